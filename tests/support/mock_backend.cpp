#include "support/mock_backend.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <limits>
#include <ostream>
#include <system_error>
#include <thread>

#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "support/self_signed_certificate.hpp"

namespace aiproxy::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);

// One accepted connection; `Stream` is tcp::socket or ssl::stream<tcp::socket>. Shared with the
// watcher that notices the peer closing while a stream waits for its next step; everything runs
// on the backend's single io thread.
template <class Stream>
struct Connection {
    template <class... Args>
    explicit Connection(Args&&... args)
        : stream(std::forward<Args>(args)...),
          wake(std::make_shared<net::steady_timer>(stream.get_executor())) {}

    tcp::socket& socket() { return beast::get_lowest_layer(stream); }

    Stream stream;
    std::shared_ptr<net::steady_timer> wake;  // cancelled to interrupt a wait early
    bool peer_closed = false;
    bool done = false;  // we are closing it ourselves: a failing read is not the peer's doing
};

using PlainConnection = Connection<tcp::socket>;
using TlsConnection = Connection<ssl::stream<tcp::socket>>;

std::string statusLine(int status) {
    auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
}

std::string headerLines(const Headers& headers) {
    std::string out;
    for (const auto& [name, value] : headers.fields())
        out += name + ": " + value + "\r\n";
    return out;
}

std::string chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return std::string(size) + std::string(data) + "\r\n";
}

// Over TLS too no close_notify is sent: the peer sees a bare FIN or RST, like a dying backend.
template <class Stream>
void closeWithFin(Connection<Stream>& conn) {
    conn.done = true;
    boost::system::error_code ignored;
    conn.socket().shutdown(tcp::socket::shutdown_send, ignored);
    conn.socket().close(ignored);
}

template <class Stream>
void closeWithRst(Connection<Stream>& conn) {
    conn.done = true;
    boost::system::error_code ignored;
    conn.socket().set_option(net::socket_base::linger(true, 0), ignored);
    conn.socket().close(ignored);
}

// Reads raw bytes until the peer closes. The connection carries no further request, so over TLS
// the bytes (a close_notify at most) need no decrypting, and a raw read never competes with the
// TLS engine's writes.
net::awaitable<void> drainUntilClosed(tcp::socket& socket) {
    char scratch[512];
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(net::buffer(scratch), kNoThrow);
        if (ec) co_return;
    }
}

template <class Stream>
net::awaitable<void> watchPeer(std::shared_ptr<Connection<Stream>> conn) {
    co_await drainUntilClosed(conn->socket());
    if (!conn->done) {
        conn->peer_closed = true;
        conn->wake->cancel();
    }
}

}  // namespace

void Gate::release(int steps) {
    std::vector<std::function<void()>> wakers;
    {
        std::lock_guard lock(mutex_);
        released_ = steps > std::numeric_limits<int>::max() - released_
                        ? std::numeric_limits<int>::max()
                        : released_ + steps;
        wakers.swap(wakers_);
    }
    for (auto& wake : wakers)
        wake();
}

void Gate::releaseAll() {
    release(std::numeric_limits<int>::max());
}

bool Gate::passedOrSubscribe(int step, std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    if (step <= released_) return true;
    wakers_.push_back(std::move(wake));
    return false;
}

Reply Reply::json(int status, std::string body) {
    return {.status = status,
            .headers = {{"Content-Type", "application/json"}},
            .body = std::move(body)};
}

Reply Reply::sse(std::vector<std::string> events, StreamEnd end) {
    return {.kind = Kind::Stream, .events = std::move(events), .end = end};
}

Reply Reply::gatedSse(std::vector<std::string> events, std::shared_ptr<Gate> gate, StreamEnd end) {
    return {.kind = Kind::Stream, .events = std::move(events), .gate = std::move(gate), .end = end};
}

void PrintTo(StreamEnd end, std::ostream* out) {
    static constexpr const char* kNames[] = {"Complete", "Close", "Reset"};
    *out << kNames[static_cast<int>(end)];
}

void PrintTo(Reply::Kind kind, std::ostream* out) {
    static constexpr const char* kNames[] = {"Respond", "Hang",    "Close",
                                             "Reset",   "Garbage", "Stream"};
    *out << kNames[static_cast<int>(kind)];
}

struct MockBackend::Impl {
    Impl(std::string backend_name, Transport backend_transport)
        : transport(backend_transport),
          name(std::move(backend_name)),
          default_reply(Reply::json(200, "{\"served_by\":\"" + name + "\"}")) {
        if (transport == Transport::Tls) {
            tls_context = std::make_unique<ssl::context>(ssl::context::tls_server);
            tls_context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                     ssl::context::no_tlsv1_1);
            useSelfSignedCertificate(tls_context->native_handle());
        }
    }

    Transport transport;
    // Before the io_context so it outlives the TLS streams that pending coroutines own.
    std::unique_ptr<ssl::context> tls_context;
    // Declared before the rest so it is destroyed after it: pending coroutines own sockets bound
    // to it.
    net::io_context ioc;
    tcp::acceptor acceptor{ioc};
    std::thread thread;
    std::string name;
    uint16_t port = 0;

    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    Reply default_reply;
    std::deque<Reply> queue;
    std::vector<RecordedRequest> requests;
    int accepted = 0;
    int cancelled_streams = 0;
    int abandoned_hangs = 0;
    std::vector<std::optional<std::string>> server_names;
    int failed_handshakes = 0;

    template <class Change>
    void update(Change change) {
        {
            std::lock_guard lock(mutex);
            change();
        }
        changed.notify_all();
    }

    template <class Predicate>
    bool waitUntil(std::chrono::milliseconds timeout, Predicate predicate) const {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, predicate);
    }

    Reply nextReply() {
        std::lock_guard lock(mutex);
        if (queue.empty()) return default_reply;
        Reply reply = std::move(queue.front());
        queue.pop_front();
        return reply;
    }

    net::awaitable<void> acceptLoop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
            if (ec) co_return;
            update([&] { ++accepted; });
            switch (transport) {
                case Transport::Plain:
                    net::co_spawn(ioc, serve(std::make_shared<PlainConnection>(std::move(socket))),
                                  net::detached);
                    break;
                case Transport::Tls:
                    net::co_spawn(
                        ioc,
                        serveTls(std::make_shared<TlsConnection>(std::move(socket), *tls_context)),
                        net::detached);
                    break;
                case Transport::StalledTls:
                    net::co_spawn(ioc, stall(std::move(socket)), net::detached);
                    break;
            }
        }
    }

    net::awaitable<void> serveTls(std::shared_ptr<TlsConnection> conn) {
        auto [ec] = co_await conn->stream.async_handshake(ssl::stream_base::server, kNoThrow);
        if (ec) {
            update([&] { ++failed_handshakes; });
            co_return;
        }
        std::optional<std::string> server_name;
        if (const char* sni =
                SSL_get_servername(conn->stream.native_handle(), TLSEXT_NAMETYPE_host_name)) {
            server_name = sni;
        }
        update([&] { server_names.push_back(std::move(server_name)); });
        co_await serve(std::move(conn));
    }

    net::awaitable<void> stall(tcp::socket socket) {
        co_await drainUntilClosed(socket);
        update([&] { ++abandoned_hangs; });
    }

    template <class Stream>
    net::awaitable<void> serve(std::shared_ptr<Connection<Stream>> conn) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(1U << 20);
            parser.body_limit(64U << 20);
            auto [ec, n] = co_await http::async_read(conn->stream, buffer, parser, kNoThrow);
            if (ec) co_return;
            const auto& message = parser.get();
            RecordedRequest request{.method = std::string(message.method_string()),
                                    .target = std::string(message.target()),
                                    .body = message.body()};
            for (const auto& field : message) {
                request.headers.add(std::string(field.name_string()), std::string(field.value()));
            }
            update([&] { requests.push_back(std::move(request)); });
            Reply reply = nextReply();
            if (!co_await answer(conn, reply, message.keep_alive())) co_return;
        }
    }

    // Returns whether the connection can carry another request.
    template <class Stream>
    net::awaitable<bool> answer(std::shared_ptr<Connection<Stream>> conn, const Reply& reply,
                                bool request_keep_alive) {
        if (reply.delay.count() > 0) {
            conn->wake->expires_after(reply.delay);
            co_await conn->wake->async_wait(kNoThrow);
        }
        switch (reply.kind) {
            case Reply::Kind::Respond: {
                bool close =
                    !request_keep_alive ||
                    equalsIgnoreCase(reply.headers.get("Connection").value_or(""), "close");
                std::string head = statusLine(reply.status) + headerLines(reply.headers) +
                                   "Content-Length: " + std::to_string(reply.body.size()) +
                                   "\r\n\r\n";
                std::array<net::const_buffer, 2> buffers{net::buffer(head),
                                                         net::buffer(reply.body)};
                auto [ec, n] = co_await net::async_write(conn->stream, buffers, kNoThrow);
                if (ec || close) {
                    closeWithFin(*conn);
                    co_return false;
                }
                co_return true;
            }
            case Reply::Kind::Hang: {
                co_await drainUntilClosed(conn->socket());
                update([&] { ++abandoned_hangs; });
                co_return false;
            }
            case Reply::Kind::Close:
                closeWithFin(*conn);
                co_return false;
            case Reply::Kind::Reset:
                closeWithRst(*conn);
                co_return false;
            case Reply::Kind::Garbage: {
                co_await net::async_write(conn->stream, net::buffer(reply.body), kNoThrow);
                closeWithFin(*conn);
                co_return false;
            }
            case Reply::Kind::Stream:
                co_await stream(conn, reply);
                co_return false;
        }
        co_return false;
    }

    // Waits until `step` may run; false when the peer went away meanwhile.
    template <class Stream>
    static net::awaitable<bool> awaitStep(const std::shared_ptr<Connection<Stream>>& conn,
                                          const Reply& reply, int step) {
        auto wake = conn->wake;
        if (!reply.gate) {
            bool is_event = step <= static_cast<int>(reply.events.size());
            if (is_event && reply.interval.count() > 0 && !conn->peer_closed) {
                wake->expires_after(reply.interval);
                co_await wake->async_wait(kNoThrow);
            }
            co_return !conn->peer_closed;
        }
        auto executor = wake->get_executor();
        std::weak_ptr<net::steady_timer> weak = wake;
        while (!conn->peer_closed) {
            // The wake-up is posted to this thread, so it cannot run before async_wait starts.
            auto wake_up = [executor, weak] {
                net::post(executor, [weak] {
                    if (auto timer = weak.lock()) timer->cancel();
                });
            };
            if (reply.gate->passedOrSubscribe(step, wake_up)) co_return true;
            wake->expires_after(std::chrono::hours(1));
            co_await wake->async_wait(kNoThrow);
        }
        co_return false;
    }

    template <class Stream>
    net::awaitable<void> stream(std::shared_ptr<Connection<Stream>> conn, const Reply& reply) {
        std::string head = statusLine(200) +
                           "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                           "Transfer-Encoding: chunked\r\nConnection: close\r\n" +
                           headerLines(reply.headers) + "\r\n";
        auto [head_ec, head_n] =
            co_await net::async_write(conn->stream, net::buffer(head), kNoThrow);
        if (head_ec) {
            update([&] { ++cancelled_streams; });
            co_return;
        }
        net::co_spawn(conn->stream.get_executor(), watchPeer(conn), net::detached);
        const int events = static_cast<int>(reply.events.size());
        for (int step = 1; step <= events; ++step) {
            if (!co_await awaitStep(conn, reply, step)) {
                update([&] { ++cancelled_streams; });
                co_return;
            }
            std::string data = chunk("data: " + reply.events[step - 1] + "\n\n");
            auto [ec, n] = co_await net::async_write(conn->stream, net::buffer(data), kNoThrow);
            if (ec) {
                update([&] { ++cancelled_streams; });
                closeWithFin(*conn);
                co_return;
            }
        }
        if (!co_await awaitStep(conn, reply, events + 1)) {
            update([&] { ++cancelled_streams; });
            co_return;
        }
        switch (reply.end) {
            case StreamEnd::Complete: {
                static constexpr std::string_view kLastChunk = "0\r\n\r\n";
                co_await net::async_write(conn->stream, net::buffer(kLastChunk), kNoThrow);
                closeWithFin(*conn);
                break;
            }
            case StreamEnd::Close:
                closeWithFin(*conn);
                break;
            case StreamEnd::Reset:
                closeWithRst(*conn);
                break;
        }
    }
};

MockBackend::MockBackend(std::string name, Transport transport)
    : impl_(std::make_unique<Impl>(std::move(name), transport)) {
    tcp::endpoint endpoint{net::ip::make_address("127.0.0.1"), 0};
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen();
    impl_->port = impl_->acceptor.local_endpoint().port();
    net::co_spawn(impl_->ioc, impl_->acceptLoop(), net::detached);
    impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

MockBackend::~MockBackend() {
    impl_->ioc.stop();
    impl_->thread.join();
}

uint16_t MockBackend::port() const {
    return impl_->port;
}

std::string MockBackend::address() const {
    return "127.0.0.1:" + std::to_string(port());
}

const std::string& MockBackend::name() const {
    return impl_->name;
}

std::string MockBackend::defaultBody() const {
    return "{\"served_by\":\"" + impl_->name + "\"}";
}

void MockBackend::setDefault(Reply reply) {
    impl_->update([&] { impl_->default_reply = std::move(reply); });
}

void MockBackend::enqueue(Reply reply) {
    impl_->update([&] { impl_->queue.push_back(std::move(reply)); });
}

std::vector<RecordedRequest> MockBackend::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->requests;
}

size_t MockBackend::requestCount() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->requests.size();
}

int MockBackend::acceptedConnections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->accepted;
}

int MockBackend::cancelledStreams() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->cancelled_streams;
}

int MockBackend::abandonedHangs() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->abandoned_hangs;
}

std::vector<std::optional<std::string>> MockBackend::serverNames() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->server_names;
}

int MockBackend::failedHandshakes() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->failed_handshakes;
}

bool MockBackend::waitForRequests(size_t count, std::chrono::milliseconds timeout) const {
    return impl_->waitUntil(timeout, [&] { return impl_->requests.size() >= count; });
}

bool MockBackend::waitForStreamCancelled(std::chrono::milliseconds timeout) const {
    return impl_->waitUntil(timeout, [&] { return impl_->cancelled_streams > 0; });
}

bool MockBackend::waitForAbandonedHang(std::chrono::milliseconds timeout) const {
    return impl_->waitUntil(timeout, [&] { return impl_->abandoned_hangs > 0; });
}

bool MockBackend::waitForFailedHandshake(std::chrono::milliseconds timeout) const {
    return impl_->waitUntil(timeout, [&] { return impl_->failed_handshakes > 0; });
}

RefusingPort::RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        int error = errno;
        ::close(fd_);
        throw std::system_error(error, std::generic_category(), "bind");
    }
    port_ = ntohs(address.sin_port);
}

RefusingPort::~RefusingPort() {
    ::close(fd_);
}

std::string RefusingPort::address() const {
    return "127.0.0.1:" + std::to_string(port_);
}

}  // namespace aiproxy::test
