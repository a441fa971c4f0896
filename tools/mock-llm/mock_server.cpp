#include "mock_server.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "mock_api.hpp"
#include "openai_shapes.hpp"

namespace aiproxy::mock {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;
using namespace net::experimental::awaitable_operators;

// Expected failures (peer gone, timeouts) come back as values, not exceptions.
constexpr auto kUseNothrow = net::as_tuple(net::use_awaitable);

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 8 * 1024 * 1024;
// Longer than the usual client pool idle timeout (60 s), so idle pooled connections are closed by
// the client, never under a request it has just sent.
constexpr auto kIdleTimeout = 75s;
constexpr auto kHeaderTimeout = 10s;
constexpr auto kBodyTimeout = 30s;
constexpr auto kSendTimeout = 30s;
constexpr auto kWatchdogTick = 1s;
constexpr auto kLingerTimeout = 2s;
constexpr std::size_t kMaxLingerBytes = 16 * 1024 * 1024;
constexpr std::size_t kReadSize = 16 * 1024;
// Bytes of pipelined requests read while a stream is running; beyond it we stop watching.
constexpr std::size_t kMaxBufferedBytes = 1024 * 1024;

using Contexts = std::vector<std::unique_ptr<net::io_context>>;

/// One client connection. `deadline` bounds whatever the session is doing now; the watchdog closes
/// the socket when it passes.
struct Connection {
    explicit Connection(tcp::socket s) : socket(std::move(s)) {}

    void expiresAfter(Clock::duration timeout) { deadline = Clock::now() + timeout; }

    tcp::socket socket;
    beast::flat_buffer buffer;
    Clock::time_point deadline;
    ConnectionTally tally;
};

// Deadlines move with every operation and sometimes earlier (idle -> header timeout). Waking at
// least once per tick notices both without touching a timer per request; timeouts are exact to
// within a tick, which is plenty for their purpose (not being hung by a client).
net::awaitable<void> watchdog(Connection& connection) {
    net::steady_timer timer(connection.socket.get_executor());
    for (Clock::time_point now = Clock::now(); now < connection.deadline; now = Clock::now()) {
        timer.expires_at(std::min(connection.deadline, now + kWatchdogTick));
        auto [ec] = co_await timer.async_wait(kUseNothrow);
        if (ec) co_return;  // the session ended first
    }
    boost::system::error_code ignored;
    connection.socket.close(ignored);
}

Request toRequest(http::request<http::string_body>&& message) {
    Request request{.method = std::string(message.method_string()),
                    .target = std::string(message.target())};
    request.headers.reserve(8);
    for (const auto& field : message) {
        std::string name(field.name_string());
        for (char& c : name) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(message.body());
    return request;
}

template <typename Body>
void setHeaders(http::response<Body>& response, const MockApi& api, const Answer& answer) {
    response.set(http::field::server, "aiproxy-mock-llm");
    response.set(http::field::content_type, answer.content_type);
    response.set("X-Mock-Backend", api.name());
    for (const auto& [name, value] : answer.headers) {
        response.set(name, value);
    }
}

// Returns whether the connection can carry another request.
net::awaitable<bool> sendAnswer(Connection& connection, const MockApi& api, Answer& answer,
                                unsigned version, bool keep_alive, bool head = false) {
    http::response<http::string_body> response{static_cast<http::status>(answer.status), version};
    setHeaders(response, api, answer);
    response.keep_alive(keep_alive);
    response.body() = std::move(answer.body);
    response.prepare_payload();
    http::response_serializer<http::string_body> serializer{response};
    connection.expiresAfter(kSendTimeout);
    // A HEAD answer carries the Content-Length of the body it leaves out.
    auto [ec, written] =
        head ? co_await http::async_write_header(connection.socket, serializer, kUseNothrow)
             : co_await http::async_write(connection.socket, serializer, kUseNothrow);
    co_return !ec && keep_alive;
}

// Malformed or oversized requests get a status and the connection closes: the parser state after
// an error says nothing reliable about where the next request would start.
net::awaitable<void> rejectRequest(Connection& connection, const MockApi& api,
                                   boost::system::error_code ec) {
    if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
        co_return;  // the peer closed, reset or timed out: nobody to answer
    }
    int status = 400;
    std::string message = "malformed HTTP request: " + ec.message();
    if (ec == http::error::header_limit) {
        status = 431;
        message = "request header exceeds 65536 bytes";
    } else if (ec == http::error::body_limit) {
        status = 413;
        message = "request body exceeds 8388608 bytes";
    }
    Answer answer{.status = status, .body = errorJsonForStatus(status, message)};
    co_await sendAnswer(connection, api, answer, 11, false);
    // Closing with unread request bytes would send RST, which can destroy the answer before the
    // client reads it; so half-close and drain what the client is still sending, for a while.
    boost::system::error_code ignored;
    connection.socket.shutdown(tcp::socket::shutdown_send, ignored);
    connection.expiresAfter(kLingerTimeout);
    std::array<char, 16 * 1024> discard;
    for (std::size_t drained = 0; drained < kMaxLingerBytes;) {
        auto [read_error, n] =
            co_await connection.socket.async_read_some(net::buffer(discard), kUseNothrow);
        if (read_error) break;
        drained += n;
    }
}

void closeConnection(Connection& connection, bool reset) {
    boost::system::error_code ignored;
    if (reset) {
        // Linger 0 makes close() send RST: the peer sees a reset, as from a crashed backend.
        connection.socket.set_option(net::socket_base::linger(true, 0), ignored);
    } else {
        connection.socket.shutdown(tcp::socket::shutdown_send, ignored);
    }
    connection.socket.close(ignored);
}

// Waits out the gap before the next event while watching the socket, so a client that goes away
// between events is noticed at once. Data that arrives is a pipelined request, kept for later.
net::awaitable<bool> pause(Connection& connection, milliseconds gap) {
    net::steady_timer timer(connection.socket.get_executor(), gap);
    connection.expiresAfter(gap + kSendTimeout);
    while (connection.buffer.size() < kMaxBufferedBytes) {
        auto result = co_await (
            timer.async_wait(kUseNothrow) ||
            connection.socket.async_read_some(connection.buffer.prepare(kReadSize), kUseNothrow));
        if (result.index() == 0) co_return !std::get<0>(std::get<0>(result));
        auto [ec, received] = std::get<1>(result);
        if (ec) co_return false;  // EOF or reset: the client is gone
        connection.buffer.commit(received);
    }
    auto [ec] = co_await timer.async_wait(kUseNothrow);
    co_return !ec;
}

net::awaitable<bool> sendStream(Connection& connection, MockApi& api, const Answer& answer,
                                unsigned version, bool keep_alive) {
    // HTTP/1.0 has no chunked encoding: the stream ends with the connection.
    const bool chunked = version >= 11;
    keep_alive = keep_alive && chunked;
    http::response<http::empty_body> response{http::status::ok, version};
    setHeaders(response, api, answer);
    response.keep_alive(keep_alive);
    response.chunked(chunked);
    http::response_serializer<http::empty_body> serializer{response};
    connection.expiresAfter(kSendTimeout);
    if (auto [ec, n] =
            co_await http::async_write_header(connection.socket, serializer, kUseNothrow);
        ec) {
        api.streamEnded(StreamEnd::kCancelled);
        co_return false;
    }
    for (std::size_t i = 0; i < answer.events.size(); ++i) {
        if (i > 0 && answer.chunk_gap > 0ms && !co_await pause(connection, answer.chunk_gap)) {
            api.streamEnded(StreamEnd::kCancelled);
            co_return false;
        }
        if (answer.drop_after_chunks == static_cast<std::int64_t>(i)) {
            // D = 0: a clean close right after the header; later: a reset mid-stream.
            closeConnection(connection, i > 0);
            api.streamEnded(StreamEnd::kDropped);
            co_return false;
        }
        connection.expiresAfter(kSendTimeout);
        auto event = net::buffer(answer.events[i]);
        auto [ec, n] = chunked ? co_await net::async_write(connection.socket,
                                                           http::make_chunk(event), kUseNothrow)
                               : co_await net::async_write(connection.socket, event, kUseNothrow);
        if (ec) {
            api.streamEnded(StreamEnd::kCancelled);
            co_return false;
        }
    }
    if (chunked) {
        connection.expiresAfter(kSendTimeout);
        auto [ec, n] =
            co_await net::async_write(connection.socket, http::make_chunk_last(), kUseNothrow);
        if (ec) {
            api.streamEnded(StreamEnd::kCancelled);
            co_return false;
        }
    }
    api.streamEnded(StreamEnd::kCompleted);
    co_return keep_alive;
}

// Feeds the parser what is already buffered, so a request that arrived whole (the usual case)
// costs no read operation beyond the one that received it.
void parseBuffered(http::request_parser<http::string_body>& parser, beast::flat_buffer& buffer,
                   boost::system::error_code& ec) {
    while (buffer.size() > 0 && !parser.is_done()) {
        std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == http::error::need_more) {
            ec = {};
            return;
        }
        if (ec || used == 0) return;
    }
}

net::awaitable<void> serve(Connection& connection, MockApi& api) {
    for (;;) {
        if (connection.buffer.size() == 0) {
            connection.expiresAfter(kIdleTimeout);
            auto [ec, received] = co_await connection.socket.async_read_some(
                connection.buffer.prepare(kReadSize), kUseNothrow);
            if (ec) co_return;  // closed, reset or idle for too long
            connection.buffer.commit(received);
        }
        // The header must complete within kHeaderTimeout of its first byte.
        connection.expiresAfter(kHeaderTimeout);
        http::request_parser<http::string_body> parser;
        parser.header_limit(kMaxHeaderBytes);
        parser.body_limit(kMaxBodyBytes);
        boost::system::error_code ec;
        parseBuffered(parser, connection.buffer, ec);
        if (!ec && !parser.is_header_done()) {
            std::tie(ec, std::ignore) = co_await http::async_read_header(
                connection.socket, connection.buffer, parser, kUseNothrow);
        }
        if (ec) {
            co_await rejectRequest(connection, api, ec);
            co_return;
        }
        const unsigned version = parser.get().version();
        if (!parser.is_done()) {
            if (version >= 11 &&
                beast::iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> proceed{http::status::continue_, version};
                std::tie(ec, std::ignore) =
                    co_await http::async_write(connection.socket, proceed, kUseNothrow);
                if (ec) co_return;
            }
            connection.expiresAfter(kBodyTimeout);
            std::tie(ec, std::ignore) = co_await http::async_read(
                connection.socket, connection.buffer, parser, kUseNothrow);
            if (ec) {
                co_await rejectRequest(connection, api, ec);
                co_return;
            }
        }
        http::request<http::string_body> message = parser.release();
        const bool keep_alive = message.keep_alive();
        const bool head = message.method() == http::verb::head;
        Answer answer = api.handle(toRequest(std::move(message)), connection.tally);

        if (answer.latency > 0ms) {
            net::steady_timer timer(connection.socket.get_executor(), answer.latency);
            connection.expiresAfter(answer.latency + kSendTimeout);
            std::tie(ec) = co_await timer.async_wait(kUseNothrow);
            if (ec) co_return;
        }
        const bool reusable =
            answer.events.empty()
                ? co_await sendAnswer(connection, api, answer, version, keep_alive, head)
                : co_await sendStream(connection, api, answer, version, keep_alive);
        if (!reusable) {
            closeConnection(connection, false);
            co_return;
        }
    }
}

net::awaitable<void> session(tcp::socket socket, MockApi& api) {
    Connection connection(std::move(socket));
    connection.expiresAfter(kIdleTimeout);
    // Whichever ends first cancels the other: the watchdog when a deadline passes.
    co_await (serve(connection, api) || watchdog(connection));
}

void logFailure(std::exception_ptr error) {
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aiproxy-mock-llm: connection failed: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "aiproxy-mock-llm: connection failed\n");
    }
}

// One acceptor hands connections round robin to the workers. SO_REUSEPORT per worker was rejected:
// it would let a second mock silently share a fixed port, and port 0 would give each worker its
// own port.
net::awaitable<void> acceptLoop(tcp::acceptor acceptor, Contexts& contexts, MockApi& api) {
    std::size_t next = 0;
    net::steady_timer backoff(acceptor.get_executor());
    for (;;) {
        net::io_context& worker = *contexts[next];
        next = (next + 1) % contexts.size();
        auto [ec, socket] = co_await acceptor.async_accept(worker, kUseNothrow);
        if (ec == net::error::operation_aborted) co_return;
        if (ec) {
            // Out of descriptors, typically: back off rather than spin on the error.
            std::fprintf(stderr, "aiproxy-mock-llm: accept failed: %s\n", ec.message().c_str());
            backoff.expires_after(50ms);
            co_await backoff.async_wait(kUseNothrow);
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        api.connectionAccepted();
        net::co_spawn(worker, session(tcp::socket(std::move(socket)), api), logFailure);
    }
}

std::string printableHost(const std::string& host) {
    return host.find(':') != std::string::npos && !host.starts_with('[') ? "[" + host + "]" : host;
}

// The acceptor, resolver and signal set live in this scope (or in the accept loop's frame, which
// dies with the main context), so none outlives the context it belongs to.
int serveUntilSignal(Contexts& contexts, const Options& options, MockApi& api) {
    net::io_context& main_context = *contexts.front();
    boost::system::error_code ec;
    tcp::acceptor acceptor(main_context);
    tcp::resolver resolver(main_context);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::numeric_service, ec);
    if (!ec && endpoints.empty()) ec = net::error::host_not_found;
    if (!ec) {
        tcp::endpoint endpoint = endpoints.begin()->endpoint();
        acceptor.open(endpoint.protocol(), ec);
        if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
        if (!ec) acceptor.bind(endpoint, ec);
        if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        std::fprintf(stderr, "aiproxy-mock-llm: cannot listen on %s:%u: %s\n",
                     printableHost(options.host).c_str(), options.port, ec.message().c_str());
        return 1;
    }
    const unsigned port = acceptor.local_endpoint().port();

    // Registered before the "listening" line, so a signal sent right after it is never missed.
    net::signal_set signals(main_context, SIGINT, SIGTERM);
    signals.async_wait([&contexts](boost::system::error_code error, int) {
        if (error) return;
        for (auto& context : contexts) {
            context->stop();
        }
    });

    std::fprintf(stderr, "aiproxy-mock-llm %s listening on %s:%u\n", options.name.c_str(),
                 printableHost(options.host).c_str(), port);
    std::fflush(stderr);

    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    for (auto& context : contexts) {
        guards.push_back(net::make_work_guard(*context));
    }
    net::co_spawn(main_context, acceptLoop(std::move(acceptor), contexts, api), logFailure);

    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts.size(); ++i) {
        threads.emplace_back([&context = *contexts[i]] { context.run(); });
    }
    main_context.run();
    for (auto& context : contexts) {
        context->stop();
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    return 0;
}

}  // namespace

int runServer(const Options& options) {
    MockApi api(options.name, options.behaviour, options.require_key);
    api.slowEvery(options.slow_every, options.slow_ms);
    Contexts contexts;
    for (int i = 0; i < options.threads; ++i) {
        contexts.push_back(std::make_unique<net::io_context>(1));
    }
    int exit_code = serveUntilSignal(contexts, options, api);
    // Suspended sessions die with their context. The acceptor's context goes first: a pending
    // accept holds a socket of the worker context it would have handed the connection to.
    for (auto& context : contexts)
        context.reset();
    return exit_code;
}

}  // namespace aiproxy::mock
