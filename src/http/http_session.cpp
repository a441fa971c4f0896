#include "aiproxy/http/http_session.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>

#include "aiproxy/http/json_error.hpp"

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

// Answers an error the client caused and closes: after a framing error the stream position is
// unknown, so the connection cannot be reused.
awaitable<void> answerAndClose(beast::tcp_stream& stream, std::chrono::milliseconds timeout,
                               unsigned status, std::string_view message, std::string_view code) {
    auto response = jsonErrorResponse(status, message, "invalid_request_error", code);
    response.keep_alive(false);
    stream.expires_after(timeout);
    co_await bhttp::async_write(stream, response, use_nothrow);
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

class Session {
public:
    Session(tcp::socket socket, SessionContext context)
        : stream_(std::move(socket)), context_(context), handle_(context.tracker.add(stream_)) {
        error_code ec;
        auto endpoint = stream_.socket().remote_endpoint(ec);
        if (!ec) peer_ = endpoint.address().to_string();
        stream_.socket().set_option(tcp::no_delay(true), ec);
    }
    ~Session() {
        context_.tracker.remove(handle_);
        context_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    awaitable<void> run() {
        const auto& limits = context_.limits;
        for (;;) {
            // Idle between requests: wait for the first byte with the keep-alive timeout.
            context_.tracker.setIdle(handle_, true);
            if (context_.tracker.draining()) co_return;
            if (buffer_.size() == 0) {
                stream_.expires_after(limits.keepalive_timeout);
                auto [ec, n] =
                    co_await stream_.async_read_some(buffer_.prepare(kFirstReadBytes), use_nothrow);
                if (ec) co_return;  // closed, idle timeout or drain
                buffer_.commit(n);
            }
            context_.tracker.setIdle(handle_, false);

            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
            parser.body_limit(limits.max_body_bytes);
            stream_.expires_after(limits.header_timeout);
            auto [header_ec, header_n] =
                co_await bhttp::async_read_header(stream_, buffer_, parser, use_nothrow);
            if (header_ec) {
                co_await answerReadError(header_ec);
                co_return;
            }
            if (parser.get()[bhttp::field::expect] == "100-continue" && !parser.is_done()) {
                static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                stream_.expires_after(limits.send_timeout);
                auto [ec, n] = co_await net::async_write(
                    stream_, net::buffer(kContinue.data(), kContinue.size()), use_nothrow);
                if (ec) co_return;
            }
            if (!parser.is_done()) {
                stream_.expires_after(limits.body_timeout);
                auto [body_ec, body_n] =
                    co_await bhttp::async_read(stream_, buffer_, parser, use_nothrow);
                if (body_ec) {
                    co_await answerReadError(body_ec);
                    co_return;
                }
            }
            stream_.expires_never();

            ClientRequest request{.message = parser.release(), .peer_address = peer_};
            std::string_view target = request.message.target();
            auto question = target.find('?');
            request.path = target.substr(0, question);
            if (question != std::string_view::npos) request.query = target.substr(question + 1);
            auto incoming_id = request.message["X-Request-Id"];
            request.request_id = validRequestId(incoming_id) ? std::string(incoming_id)
                                                             : context_.handler.newRequestId();

            bool keep_alive = request.message.keep_alive() && !context_.tracker.draining();
            ResponseSink sink{stream_, limits.send_timeout, request.message.version(), keep_alive,
                              request.message.method() == bhttp::verb::head};
            co_await context_.handler.handle(request, sink);
            if (!sink.committed()) {
                co_await sink.send(jsonErrorResponse(500, "the gateway produced no response",
                                                     "server_error", "internal_error"));
            }
            if (!sink.keepAlive() || context_.tracker.draining()) {
                error_code ignored;
                stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                co_return;
            }
        }
    }

private:
    awaitable<void> answerReadError(error_code ec) {
        const auto timeout = context_.limits.send_timeout;
        if (ec == bhttp::error::body_limit) {
            co_await answerAndClose(stream_, timeout, 413, "request body too large",
                                    "request_too_large");
        } else if (ec == bhttp::error::header_limit) {
            co_await answerAndClose(stream_, timeout, 431, "request header too large",
                                    "header_too_large");
        } else if (ec.category() ==
                       bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            co_await answerAndClose(stream_, timeout, 400,
                                    "malformed HTTP request: " + ec.message(), "bad_request");
        }
        // Timeouts, resets and a client that went away: close without an answer.
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    SessionContext context_;
    ConnectionTracker::Handle handle_;
    std::string peer_;
};

}  // namespace

awaitable<void> runHttpSession(tcp::socket socket, SessionContext context) {
    Session session{std::move(socket), context};
    co_await session.run();
}

}  // namespace aiproxy::http
