#include "aiproxy/http/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <stdexcept>

namespace aiproxy::http {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secret AEAD only (TLS 1.3 suites are OpenSSL's defaults, all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Client certificates and session resumption: OpenSSL refuses to resume a verified session
// without an id context, so resumed handshakes would fail.
constexpr unsigned char kSessionIdContext[] = "aiproxy";

// The reasons OpenSSL queued, oldest first; clears the queue.
std::string openSslErrors() {
    std::string out;
    while (unsigned long code = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(code);
        std::string text = reason != nullptr ? reason : "error " + std::to_string(code);
        if (out.find(text) != std::string::npos) continue;
        if (!out.empty()) out += "; ";
        out += text;
    }
    return out.empty() ? "unknown error" : out;
}

// An encrypted key must not make OpenSSL prompt on the terminal: refuse it instead.
int noPassword(char*, int, int, void*) {
    return 0;
}

}  // namespace

TlsContextPtr makeServerTlsContext(const TlsFiles& files, std::string& error) {
    ERR_clear_error();
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = context->native_handle();
    auto fail = [&](std::string_view field, const std::string& what) {
        error = "server.tls." + std::string(field) + ": " + what + ": " + openSslErrors();
        return nullptr;
    };
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(
        native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
        error = "server.tls: cipher list rejected: " + openSslErrors();
        return nullptr;
    }
    SSL_CTX_set_default_passwd_cb(native, &noPassword);
    if (SSL_CTX_use_certificate_chain_file(native, files.cert.c_str()) != 1) {
        return fail("cert", "cannot load the certificate chain from " + files.cert);
    }
    // Also fails when the key does not belong to the certificate ("key values mismatch").
    if (SSL_CTX_use_PrivateKey_file(native, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        return fail("key", "cannot load the private key from " + files.key);
    }
    SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);
    if (!files.client_ca.empty()) {
        if (SSL_CTX_load_verify_locations(native, files.client_ca.c_str(), nullptr) != 1) {
            return fail("client_ca", "cannot load CA certificates from " + files.client_ca);
        }
        // The CA names sent in the CertificateRequest, so clients pick the right certificate.
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
        if (names == nullptr) {
            return fail("client_ca", "cannot read CA names from " + files.client_ca);
        }
        SSL_CTX_set_client_CA_list(native, names);
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    ERR_clear_error();
    return context;
}

TlsContextHolder::TlsContextHolder(const TlsFiles& files) {
    std::string error;
    context_ = makeServerTlsContext(files, error);
    if (!context_) throw std::runtime_error(error);
}

std::optional<std::string> TlsContextHolder::reload(const TlsFiles& files) {
    std::string error;
    TlsContextPtr next = makeServerTlsContext(files, error);
    if (!next) return error;
    std::lock_guard lock{mutex_};
    context_ = std::move(next);
    return std::nullopt;
}

TlsContextPtr TlsContextHolder::current() const {
    std::lock_guard lock{mutex_};
    return context_;
}

}  // namespace aiproxy::http
