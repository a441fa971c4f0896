#pragma once
// The data plane's server-side TLS context (server.tls). Sessions take the current context when
// they are accepted and keep it for their lifetime, so a reload (SIGHUP) swaps it for new
// connections while existing ones finish on the old certificate. TLS 1.2 is the minimum;
// compression and renegotiation are off; HTTP/1.1 only, so no ALPN.

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace aiproxy::http {

// The PEM files of server.tls (absolute, or relative to the working directory: the config
// loader has already resolved them against the config file's folder).
struct TlsFiles {
    std::string cert;       // certificate chain, leaf first
    std::string key;        // its private key (unencrypted)
    std::string client_ca;  // empty: no client certificates; set: required and verified
};

using TlsContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// Builds a server context from the files. On failure returns nullptr and sets `error` to a
// message naming the file and what is wrong with it.
TlsContextPtr makeServerTlsContext(const TlsFiles& files, std::string& error);

// Shared by all workers: current() from any thread, reload() from the control thread.
class TlsContextHolder {
public:
    // Throws std::runtime_error with makeServerTlsContext's message (startup only).
    explicit TlsContextHolder(const TlsFiles& files);

    // Reads the files again. On success new connections use the new context and nullopt is
    // returned; on failure the current context stays and the error is returned.
    std::optional<std::string> reload(const TlsFiles& files);

    TlsContextPtr current() const;

private:
    mutable std::mutex mutex_;
    TlsContextPtr context_;
};

}  // namespace aiproxy::http
