#include "aiproxy/http/http_session.hpp"

#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <tuple>
#include <type_traits>

#include <spdlog/spdlog.h>

#include "aiproxy/common/ascii.hpp"
#include "aiproxy/http/json_error.hpp"
#include "aiproxy/http/request_target.hpp"
#include "request_head.hpp"

namespace aiproxy::http {
namespace {

constexpr std::size_t kMaxRequestIdLength = 200;
constexpr std::size_t kFirstReadBytes = 8192;

bool validRequestId(std::string_view id) {
    if (id.empty() || id.size() > kMaxRequestIdLength) return false;
    for (char c : id) {
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

// After an error answer, what the client still sends is read and dropped (bounded) before the
// close: closing with unread bytes makes the kernel send a reset, which can destroy the answer
// before the client has read it (nginx's lingering close).
constexpr std::size_t kLingerBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2000};

using detail::framingProblem;
using detail::HeadScanner;
using detail::hostProblem;

// Stream: beast::tcp_stream or TlsStream. One template rather than a stream interface, so the
// plain path pays no indirect call per read or write.
template <class Stream>
class Session {
public:
    static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

    // stream_args: the socket, plus the TLS context for TlsStream.
    template <class... StreamArgs>
    explicit Session(SessionContext context, StreamArgs&&... stream_args)
        : stream_(std::forward<StreamArgs>(stream_args)...),
          context_(context),
          handle_(context.tracker.add(tcpStream())) {
        error_code ec;
        auto endpoint = socket().remote_endpoint(ec);
        if (!ec) peer_ = endpoint.address().to_string();
        socket().set_option(tcp::no_delay(true), ec);
    }
    ~Session() {
        context_.tracker.remove(handle_);
        context_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    awaitable<void> run() {
        const auto& limits = context_.limits;
        if constexpr (kTls) {
            // The handshake counts as part of the first request's head (slowloris again).
            tcpStream().expires_after(limits.header_timeout);
            auto [ec] =
                co_await stream_.async_handshake(net::ssl::stream_base::server, use_nothrow);
            if (ec) {
                spdlog::debug("TLS handshake with {} failed: {}", peer_, ec.message());
                co_return;
            }
        }
        for (bool first = true;; first = false) {
            // Idle between requests: wait for the first byte with the keep-alive timeout. A
            // new connection has sent nothing yet, so its silence is part of the first head and
            // gets header_timeout (a silent connection must not hold a slot for longer).
            context_.tracker.setIdle(handle_, true);
            // A drain closes idle connections, but a request the client has already sent
            // (pipelined behind the last answer) is answered first, with Connection: close.
            if (context_.tracker.draining() && !requestWaiting()) co_return;
            if (buffer_.size() == 0) {
                tcpStream().expires_after(first ? limits.header_timeout : limits.keepalive_timeout);
                auto [ec, n] =
                    co_await stream_.async_read_some(buffer_.prepare(kFirstReadBytes), use_nothrow);
                if (ec) co_return;  // closed, idle timeout or drain
                buffer_.commit(n);
            }
            context_.tracker.setIdle(handle_, false);

            // One deadline for the whole head, however slowly it trickles in (slowloris).
            tcpStream().expires_after(limits.header_timeout);
            switch (co_await readHead()) {
                case HeadRead::Ready:
                    break;
                case HeadRead::Gone:
                    co_return;
                case HeadRead::TooLarge:
                    co_await answerReadError(bhttp::error::header_limit);
                    co_return;
                case HeadRead::Malformed:
                    co_await answerAndClose(400, "malformed HTTP request: " + head_problem_,
                                            "bad_request");
                    co_return;
            }
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
            parser.body_limit(limits.max_body_bytes);
            // The whole head is in the buffer: this parses it without reading.
            auto [header_ec, header_n] =
                co_await bhttp::async_read_header(stream_, buffer_, parser, use_nothrow);
            if (header_ec) {
                co_await answerReadError(header_ec);
                co_return;
            }
            if (auto problem = framingProblem(parser); !problem.empty()) {
                co_await answerAndClose(400, "malformed HTTP request: " + std::string(problem),
                                        "bad_request");
                co_return;
            }
            std::string admitted_id;  // set when the head was admitted before its body
            if (auto problem = hostProblem(parser.get()); !problem.empty()) {
                co_await answerAndClose(400, "malformed HTTP request: " + std::string(problem),
                                        "bad_request");
                co_return;
            }
            // Expect is case-insensitive (RFC 9110 10.1.1); HTTP/1.0 has no 100 Continue. The
            // interim answer comes only once routing and admission accept the head.
            if (parser.get().version() >= 11 && !parser.is_done() &&
                common::equalsIgnoreCase(parser.get()[bhttp::field::expect], "100-continue")) {
                ClientRequest head{.message = Request{bhttp::request_header<>(parser.get().base())},
                                   .peer_address = peer_,
                                   .tls = kTls};
                if (auto problem = fillRequest(head); !problem.empty()) {
                    co_await answerAndClose(400, "malformed HTTP request: " + problem,
                                            "bad_request");
                    co_return;
                }
                ResponseSink refusal{stream_, limits.send_timeout, head.message.version(),
                                     /*client_keep_alive=*/false,
                                     head.message.method() == bhttp::verb::head};
                if (!co_await context_.handler.admitHead(head, refusal)) {
                    // The body was never asked for: close after the answer, draining what the
                    // client sends anyway.
                    if (refusal.committed()) co_await lingerAndClose();
                    co_return;
                }
                admitted_id = std::move(head.request_id);  // one id for the head and the request
                static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                tcpStream().expires_after(limits.send_timeout);
                auto [ec, n] = co_await net::async_write(
                    stream_, net::buffer(kContinue.data(), kContinue.size()), use_nothrow);
                if (ec) co_return;
            }
            std::optional<bhttp::request_header<>> trailer_free_head;
            if (!parser.is_done()) {
                tcpStream().expires_after(limits.body_timeout);
                error_code body_ec;
                if (parser.chunked()) {
                    // Trailers are parsed into the header fields; keep the head as it came, and
                    // bound the trailer section like a head (what a chunk leaves unparsed in the
                    // buffer is at most a chunk line or the trailer).
                    trailer_free_head = parser.get().base();
                    while (!parser.is_done() && !body_ec) {
                        if (buffer_.size() > limits.max_header_bytes) {
                            body_ec = bhttp::error::header_limit;
                            break;
                        }
                        std::tie(body_ec, std::ignore) =
                            co_await bhttp::async_read_some(stream_, buffer_, parser, use_nothrow);
                    }
                } else {
                    std::tie(body_ec, std::ignore) =
                        co_await bhttp::async_read(stream_, buffer_, parser, use_nothrow);
                }
                if (body_ec) {
                    co_await answerReadError(body_ec);
                    co_return;
                }
            }
            tcpStream().expires_never();
            // The request is parsed out of it: an answer that takes long (a stream) holds no
            // read buffer meanwhile (8 KiB of every open stream's memory).
            if (buffer_.size() == 0) buffer_.shrink_to_fit();

            ClientRequest request{.message = parser.release(), .peer_address = peer_, .tls = kTls};
            if (trailer_free_head) {
                // Trailer fields are never merged into the header section (RFC 9110 6.5.1):
                // a trailing X-Forwarded-For or X-Request-Id must not count as one.
                static_cast<bhttp::request_header<>&>(request.message) =
                    std::move(*trailer_free_head);
            }
            if (auto problem = fillRequest(request); !problem.empty()) {
                co_await answerAndClose(400, "malformed HTTP request: " + problem, "bad_request");
                co_return;
            }
            if (!admitted_id.empty()) request.request_id = std::move(admitted_id);

            bool keep_alive = request.message.keep_alive() && !context_.tracker.draining();
            ResponseSink sink{stream_, limits.send_timeout, request.message.version(), keep_alive,
                              request.message.method() == bhttp::verb::head};
            co_await context_.handler.handle(request, sink);
            if (!sink.committed()) {
                co_await sink.send(jsonErrorResponse(500, "the gateway produced no response",
                                                     "server_error", "internal_error"));
            }
            if (!sink.keepAlive()) {
                co_await closeSend();
                co_return;
            }
        }
    }

private:
    enum class HeadRead { Ready, Gone, TooLarge, Malformed };

    // Reads until the buffer holds a whole request head, checking its raw bytes on the way.
    // Gone: the client closed, failed or ran out of time (the caller just closes).
    awaitable<HeadRead> readHead() {
        const std::size_t limit = context_.limits.max_header_bytes;
        HeadScanner scanner;
        for (;;) {
            auto data = buffer_.cdata();
            std::string_view bytes{static_cast<const char*>(data.data()), data.size()};
            switch (scanner.scan(bytes)) {
                case HeadScanner::State::Complete:
                    co_return HeadRead::Ready;
                case HeadScanner::State::Malformed:
                    head_problem_ = scanner.problem();
                    co_return HeadRead::Malformed;
                case HeadScanner::State::NeedMore:
                    break;
            }
            if (bytes.size() >= limit) co_return HeadRead::TooLarge;
            auto [ec, n] =
                co_await stream_.async_read_some(buffer_.prepare(kFirstReadBytes), use_nothrow);
            if (ec) co_return HeadRead::Gone;
            buffer_.commit(n);
        }
    }

    // Bytes of a next request are here already: in our buffer or in the kernel's.
    bool requestWaiting() {
        error_code ec;
        return buffer_.size() > 0 || socket().available(ec) > 0;
    }

    // Path, query and request id from the message's head; a problem is a 400.
    std::string fillRequest(ClientRequest& request) {
        auto target = parseRequestTarget(request.message.target());
        if (!target.problem.empty()) return target.problem;
        if (!target.authority.empty()) {
            // Absolute-form: the authority is the host, whatever Host says (RFC 9112 3.2.2).
            request.message.set(bhttp::field::host, target.authority);
        }
        if (target.normalized_path) {
            request.path_storage = std::move(*target.normalized_path);
            request.path = request.path_storage;
        } else {
            request.path = target.path;
        }
        request.query = target.query;
        auto incoming_id = request.message["X-Request-Id"];
        request.request_id = validRequestId(incoming_id) ? std::string(incoming_id)
                                                         : context_.handler.newRequestId();
        return {};
    }

    // Ends our side after the last response: for TLS a close_notify first (so the client can
    // tell a complete close-delimited body from a cut one), then the FIN.
    awaitable<void> closeSend() {
        if (!socket().is_open()) co_return;  // the sink aborted the response
        if constexpr (kTls) {
            // Completes when the client answers with its close_notify or closes; bounded.
            tcpStream().expires_after(std::min(kLingerTime, context_.limits.send_timeout));
            auto [ec] = co_await stream_.async_shutdown(use_nothrow);
        }
        error_code ignored;
        socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    awaitable<void> answerReadError(error_code ec) {
        if (ec == bhttp::error::body_limit) {
            co_await answerAndClose(413, "request body too large", "request_too_large");
        } else if (ec == bhttp::error::header_limit) {
            co_await answerAndClose(431, "request header too large", "header_too_large");
        } else if (ec.category() ==
                       bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            co_await answerAndClose(400, "malformed HTTP request: " + ec.message(), "bad_request");
        }
        // Timeouts, resets and a client that went away: close without an answer.
    }

    // Answers an error the client caused and closes: after a framing error the stream position
    // is unknown, so the connection cannot be reused.
    awaitable<void> answerAndClose(unsigned status, std::string_view message,
                                   std::string_view code) {
        auto response = jsonErrorResponse(status, message, "invalid_request_error", code);
        response.keep_alive(false);
        tcpStream().expires_after(context_.limits.send_timeout);
        auto [write_ec, written] = co_await bhttp::async_write(stream_, response, use_nothrow);
        if (write_ec) co_return;
        co_await lingerAndClose();
    }

    // After an answer that leaves the client's bytes unread: FIN, then read and drop what it
    // still sends (bounded) before the close.
    awaitable<void> lingerAndClose() {
        error_code ignored;
        socket().shutdown(tcp::socket::shutdown_send, ignored);
        buffer_.consume(buffer_.size());
        tcpStream().expires_after(std::min(kLingerTime, context_.limits.send_timeout));
        for (std::size_t drained = 0; drained < kLingerBytes;) {
            auto [ec, n] =
                co_await stream_.async_read_some(buffer_.prepare(kFirstReadBytes), use_nothrow);
            if (ec) break;
            drained += n;
        }
    }

    beast::tcp_stream& tcpStream() { return beast::get_lowest_layer(stream_); }
    tcp::socket& socket() { return tcpStream().socket(); }

    Stream stream_;
    beast::flat_buffer buffer_;
    SessionContext context_;
    ConnectionTracker::Handle handle_;
    std::string peer_;
    std::string head_problem_;
};

}  // namespace

awaitable<void> runHttpSession(tcp::socket socket, SessionContext context) {
    if (context.tls == nullptr) {
        Session<beast::tcp_stream> session{context, std::move(socket)};
        co_await session.run();
        co_return;
    }
    // Held for the connection's life: a reload replaces the holder's context, not this one.
    TlsContextPtr tls_context = context.tls->current();
    Session<TlsStream> session{context, std::move(socket), *tls_context};
    co_await session.run();
}

}  // namespace aiproxy::http
