#include "listeners.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "aiproxy/http/listener.hpp"
#include "single_instance.hpp"

namespace aiproxy::server {

void bindListeners(const std::vector<config::ListenAddress>& addresses,
                   std::vector<std::unique_ptr<Worker>>& workers, bool tls) {
    for (const auto& address : addresses) {
        std::uint16_t port = address.port;
        refuseServedAddress(address.host, port);
        for (auto& worker : workers) {
            try {
                auto acceptor =
                    http::openAcceptor(worker->context().get_executor(), address.host, port);
                // The error_code form: GCC 12 misreads the throwing one's inlined string
                // building as an overflow (-Warray-bounds, -Wstringop-overflow).
                boost::system::error_code ec;
                if (port == 0) port = acceptor.local_endpoint(ec).port();
                if (ec) throw std::runtime_error("cannot read the bound port: " + ec.message());
                worker->addAcceptor(std::move(acceptor));
            } catch (const boost::system::system_error& error) {
                throw std::runtime_error("cannot listen on " + displayAddress(address.host, port) +
                                         ": " + error.code().message());
            }
        }
        spdlog::info("listening on {}{}", displayAddress(address.host, port), tls ? " (TLS)" : "");
    }
}

http::SessionLimits sessionLimits(const config::Limits& limits) {
    return {.max_header_bytes = limits.max_header_bytes,
            .max_body_bytes = limits.max_body_bytes,
            .header_timeout = limits.header_timeout,
            .body_timeout = limits.body_timeout,
            .keepalive_timeout = limits.keepalive_timeout,
            .send_timeout = limits.send_timeout};
}

http::TlsFiles tlsFiles(const config::ServerTlsConfig& tls) {
    return {.cert = tls.cert, .key = tls.key, .client_ca = tls.client_ca};
}

}  // namespace aiproxy::server
