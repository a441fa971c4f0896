#include "aiproxy/http/listener.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace aiproxy::http {

tcp::acceptor openAcceptor(const net::any_io_executor& executor, const std::string& host,
                           std::uint16_t port) {
    tcp::endpoint endpoint{net::ip::make_address(host), port};
    tcp::acceptor acceptor{executor};
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        throw boost::system::system_error(errno, boost::system::system_category(),
                                          "SO_REUSEPORT on " + host);
    }
    if (endpoint.address().is_v6()) acceptor.set_option(net::ip::v6_only(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    return acceptor;
}

awaitable<void> acceptLoop(tcp::acceptor& acceptor, SessionContext context, AcceptLimits limits) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: log and go on; the listener must outlive bursts.
            spdlog::warn("accept failed: {}", ec.message());
            continue;
        }
        auto open = context.open_connections.fetch_add(1, std::memory_order_relaxed) + 1;
        if (open > limits.max_connections) {
            context.open_connections.fetch_sub(1, std::memory_order_relaxed);
            error_code ignored;
            socket.close(ignored);  // over server.limits.max_connections
            continue;
        }
        net::co_spawn(acceptor.get_executor(), runHttpSession(std::move(socket), context),
                      net::detached);
    }
}

}  // namespace aiproxy::http
