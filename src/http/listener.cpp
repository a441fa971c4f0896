#include "aiproxy/http/listener.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

#include "aiproxy/http/json_error.hpp"

namespace aiproxy::http {
namespace {

// A refused connection still gets an answer, then a short lingering close so the answer is not
// destroyed by a reset when the client has already sent its request. At most this many refused
// connections linger per listener; beyond that a flood is closed at once.
constexpr std::size_t kMaxLingeringRefusals = 64;
constexpr std::size_t kRefusalDrainBytes = 64 * 1024;
constexpr std::chrono::milliseconds kRefusalLinger{1000};
// After a failed accept (out of descriptors, say) the connection is still queued, so accepting
// again at once would fail again in a busy loop; nginx pauses too.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

const std::string& busyResponse() {
    static const std::string response = [] {
        std::string body = jsonErrorBody("too many connections, retry later", "server_error",
                                         "too_many_connections");
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               "Content-Length: " +
               std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" +
               body;
    }();
    return response;
}

awaitable<void> drainAndClose(tcp::socket socket, std::shared_ptr<std::size_t> lingering) {
    beast::tcp_stream stream{std::move(socket)};
    stream.expires_after(kRefusalLinger);
    std::array<char, 4096> sink;
    for (std::size_t drained = 0; drained < kRefusalDrainBytes;) {
        auto [ec, n] = co_await stream.async_read_some(net::buffer(sink), use_nothrow);
        if (ec) break;
        drained += n;
    }
    --*lingering;
}

// Over server.limits.max_connections: a 503 in one non-blocking write (a fresh socket's send
// buffer always has room for it), never a session.
void refuse(tcp::socket socket, const net::any_io_executor& executor,
            const std::shared_ptr<std::size_t>& lingering) {
    error_code ec;
    socket.non_blocking(true, ec);
    if (!ec) socket.write_some(net::buffer(busyResponse()), ec);
    if (!ec) socket.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || *lingering >= kMaxLingeringRefusals) {
        socket.close(ec);
        return;
    }
    ++*lingering;
    net::co_spawn(executor, drainAndClose(std::move(socket), lingering), net::detached);
}

}  // namespace

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
    auto lingering = std::make_shared<std::size_t>(0);
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: log, pause and go on; the listener must outlive bursts.
            spdlog::warn("accept failed: {}", ec.message());
            net::steady_timer pause{acceptor.get_executor(), kAcceptRetryDelay};
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        auto open = context.open_connections.fetch_add(1, std::memory_order_relaxed) + 1;
        if (open > limits.max_connections) {
            context.open_connections.fetch_sub(1, std::memory_order_relaxed);
            if (context.tls != nullptr) {
                // A plaintext 503 means nothing to a TLS client, and a handshake is what the
                // cap saves: close at once.
                error_code ignored;
                socket.close(ignored);
                continue;
            }
            refuse(std::move(socket), acceptor.get_executor(), lingering);
            continue;
        }
        net::co_spawn(acceptor.get_executor(), runHttpSession(std::move(socket), context),
                      net::detached);
    }
}

}  // namespace aiproxy::http
