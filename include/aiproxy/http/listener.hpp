#pragma once
// Listener: one acceptor of one worker. Every worker binds the same address with SO_REUSEPORT,
// so the kernel spreads connections across workers and a connection stays on its worker.

#include <cstdint>
#include <string>

#include "aiproxy/http/http_session.hpp"

namespace aiproxy::http {

// Opens, binds (SO_REUSEADDR + SO_REUSEPORT) and listens. Throws boost::system::system_error
// with the address in the message on failure (startup only).
tcp::acceptor openAcceptor(const net::any_io_executor& executor, const std::string& host,
                           std::uint16_t port);

struct AcceptLimits {
    std::size_t max_connections;
};

// Accepts until the acceptor is closed; each connection runs runHttpSession on the executor.
awaitable<void> acceptLoop(tcp::acceptor& acceptor, SessionContext context, AcceptLimits limits);

}  // namespace aiproxy::http
