#pragma once
// The listening side shared by the control thread's servers (status endpoint, Admin API).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace aiproxy::admin::detail {

// Binds host:port at once; throws std::runtime_error naming the address and `what`.
inline boost::asio::ip::tcp::acceptor listenOn(boost::asio::io_context& context,
                                               const std::string& host, std::uint16_t port,
                                               const char* what) {
    namespace ip = boost::asio::ip;
    try {
        ip::tcp::endpoint endpoint{ip::make_address(host), port};
        ip::tcp::acceptor acceptor{context};
        acceptor.open(endpoint.protocol());
        acceptor.set_option(ip::tcp::acceptor::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen();
        return acceptor;
    } catch (const boost::system::system_error& error) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + " (" +
                                 what + "): " + error.code().message());
    }
}

// Accepts until the acceptor is closed, one detached session(socket) coroutine per connection.
template <class Session>
boost::asio::awaitable<void> acceptLoop(boost::asio::ip::tcp::acceptor& acceptor, Session session) {
    namespace net = boost::asio;
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of descriptors (EMFILE/ENFILE): the connection stays queued, so accepting again
            // at once would fail again in a busy loop. Pause as the data plane does.
            net::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds(100)};
            co_await pause.async_wait(net::as_tuple(net::use_awaitable));
            continue;
        }
        net::co_spawn(acceptor.get_executor(), session(std::move(socket)), net::detached);
    }
}

}  // namespace aiproxy::admin::detail
