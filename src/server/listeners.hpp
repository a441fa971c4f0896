#pragma once
// The data-plane listeners: every worker gets its own acceptor on each address (SO_REUSEPORT),
// so the kernel spreads connections over the workers.

#include <memory>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/http/http_session.hpp"
#include "aiproxy/http/tls_context.hpp"
#include "aiproxy/server/worker.hpp"

namespace aiproxy::server {

// Binds each address once per worker and logs it; port 0 is chosen once, then shared. Throws
// std::runtime_error naming the address when it cannot be bound, or when another process
// already serves it.
void bindListeners(const std::vector<config::ListenAddress>& addresses,
                   std::vector<std::unique_ptr<Worker>>& workers, bool tls);

// The listeners' settings from the file: read limits and timeouts, and TLS file paths.
http::SessionLimits sessionLimits(const config::Limits& limits);
http::TlsFiles tlsFiles(const config::ServerTlsConfig& tls);

}  // namespace aiproxy::server
