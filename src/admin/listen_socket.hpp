#pragma once
// ListenSocket: the listening side shared by the control thread's servers (status endpoint,
// Admin API): bind at construction, accept loop on start(), close on stop().

#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "aiproxy/common/asio.hpp"

namespace aiproxy::admin::detail {

class ListenSocket {
public:
    // One connection's coroutine; it owns the socket.
    using Session = std::function<common::awaitable<void>(common::tcp::socket)>;

    // Binds host:port at once; throws std::runtime_error naming the address and `what`.
    ListenSocket(boost::asio::io_context& context, const std::string& host, std::uint16_t port,
                 const char* what);

    std::uint16_t port() const;
    // Accepts until stop(), one detached session coroutine per connection.
    void start(Session session);
    // Closes the acceptor: the accept loop ends; sessions already running go on.
    void stop();

private:
    common::tcp::acceptor acceptor_;
};

}  // namespace aiproxy::admin::detail
