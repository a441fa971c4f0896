#include "listen_socket.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

namespace aiproxy::admin::detail {
namespace {

namespace net = common::net;
using common::tcp;
using common::use_nothrow;

tcp::acceptor listenOn(net::io_context& context, const std::string& host, std::uint16_t port,
                       const char* what) {
    try {
        tcp::endpoint endpoint{net::ip::make_address(host), port};
        tcp::acceptor acceptor{context};
        acceptor.open(endpoint.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen();
        return acceptor;
    } catch (const boost::system::system_error& error) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + " (" +
                                 what + "): " + error.code().message());
    }
}

common::awaitable<void> acceptLoop(tcp::acceptor& acceptor, ListenSocket::Session session) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of descriptors (EMFILE/ENFILE): the connection stays queued, so accepting again
            // at once would fail again in a busy loop. Pause as the data plane does.
            net::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds(100)};
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        net::co_spawn(acceptor.get_executor(), session(std::move(socket)), net::detached);
    }
}

}  // namespace

ListenSocket::ListenSocket(net::io_context& context, const std::string& host, std::uint16_t port,
                           const char* what)
    : acceptor_(listenOn(context, host, port, what)) {}

std::uint16_t ListenSocket::port() const {
    return acceptor_.local_endpoint().port();
}

void ListenSocket::start(Session session) {
    net::co_spawn(acceptor_.get_executor(), acceptLoop(acceptor_, std::move(session)),
                  net::detached);
}

void ListenSocket::stop() {
    common::error_code ignored;
    acceptor_.close(ignored);
}

}  // namespace aiproxy::admin::detail
