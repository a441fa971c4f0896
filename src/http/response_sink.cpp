#include "aiproxy/http/response_sink.hpp"

#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdio>
#include <span>

namespace aiproxy::http {

ResponseSink::ResponseSink(beast::tcp_stream& stream, std::chrono::milliseconds send_timeout,
                           unsigned client_version, bool client_keep_alive, bool head_request)
    : stream_(stream),
      send_timeout_(send_timeout),
      version_(client_version),
      keep_alive_(client_keep_alive),
      head_(head_request) {}

ResponseSink::~ResponseSink() {
    stopWatching();
}

void ResponseSink::watchForClose(std::function<void()> on_close) {
    stopWatching();
    auto watch = std::make_shared<CloseWatch>();
    watch->on_close = std::move(on_close);
    watch_ = watch;
    auto& socket = stream_.socket();
    socket.async_wait(tcp::socket::wait_read, [watch, &socket](const error_code& ec) {
        if (ec || !watch->active) return;  // inactive: the socket may be gone, do not touch it
        char byte = 0;
        auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        // n > 0: the client pipelined its next request; it is alive, stop watching.
        if (closed && watch->on_close) {
            watch->active = false;
            watch->on_close();
        }
    });
}

void ResponseSink::stopWatching() {
    if (!watch_) return;
    bool pending = watch_->active;
    watch_->active = false;
    watch_->on_close = nullptr;
    watch_.reset();
    // Nothing else waits on the socket between a response and the next read, so this cancels
    // only the watch.
    if (pending && !aborted_) {
        error_code ignored;
        stream_.socket().cancel(ignored);
    }
}

void ResponseSink::serializeHead(const bhttp::response_header<>& header,
                                 std::optional<std::uint64_t> content_length) {
    status_ = header.result_int();
    chunked_ = false;
    auto& out = head_buffer_;
    out.clear();
    out.reserve(512);
    out += version_ >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
    out += std::to_string(status_);
    out += ' ';
    std::string_view reason = header.reason();
    out += reason.empty() ? std::string_view(bhttp::obsolete_reason(header.result())) : reason;
    out += "\r\n";
    for (const auto& field : header) {
        auto name = field.name();
        if (name == bhttp::field::content_length || name == bhttp::field::transfer_encoding ||
            name == bhttp::field::connection) {
            continue;  // framing is ours to decide
        }
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    if (content_length) {
        out += "Content-Length: ";
        out += std::to_string(*content_length);
        out += "\r\n";
    } else if (head_) {
        // A HEAD answer has no body to frame.
    } else if (version_ >= 11) {
        out += "Transfer-Encoding: chunked\r\n";
        chunked_ = true;
    } else {
        keep_alive_ = false;  // HTTP/1.0 without a length: the close ends the body
    }
    if (version_ >= 11 && !keep_alive_) out += "Connection: close\r\n";
    if (version_ < 11 && keep_alive_) out += "Connection: keep-alive\r\n";
    out += "\r\n";
}

awaitable<error_code> ResponseSink::writeBuffers(const net::const_buffer* buffers,
                                                 std::size_t count) {
    committed_ = true;
    stream_.expires_after(send_timeout_);
    auto [ec, n] = co_await net::async_write(
        stream_, std::span<const net::const_buffer>(buffers, count), use_nothrow);
    if (ec) aborted_ = true;
    co_return ec;
}

awaitable<error_code> ResponseSink::send(Response&& response) {
    std::optional<std::uint64_t> length = response.body().size();
    serializeHead(response.base(), length);
    head_sent_ = true;
    net::const_buffer buffers[2] = {net::buffer(head_buffer_), net::buffer(response.body())};
    body_bytes_ = head_ ? 0 : response.body().size();
    // Same header as for GET, no body for HEAD (RFC 9110 section 9.3.2).
    co_return co_await writeBuffers(buffers, head_ ? 1 : 2);
}

void ResponseSink::begin(bhttp::response_header<>&& header,
                         std::optional<std::uint64_t> content_length) {
    serializeHead(header, content_length);
    head_sent_ = false;
}

awaitable<error_code> ResponseSink::write(const void* data, std::size_t size) {
    if (size == 0 || head_) co_return error_code{};
    char chunk_line[24];
    std::size_t chunk_line_size = 0;
    if (chunked_) {
        chunk_line_size =
            static_cast<std::size_t>(std::snprintf(chunk_line, sizeof chunk_line, "%zx\r\n", size));
    }
    net::const_buffer buffers[4];
    std::size_t count = 0;
    if (!head_sent_) buffers[count++] = net::buffer(head_buffer_);
    if (chunked_) buffers[count++] = net::buffer(chunk_line, chunk_line_size);
    buffers[count++] = net::buffer(data, size);
    if (chunked_) buffers[count++] = net::buffer("\r\n", 2);
    head_sent_ = true;
    body_bytes_ += size;
    co_return co_await writeBuffers(buffers, count);
}

awaitable<error_code> ResponseSink::finish() {
    net::const_buffer buffers[2];
    std::size_t count = 0;
    if (!head_sent_) buffers[count++] = net::buffer(head_buffer_);
    if (chunked_ && !head_) buffers[count++] = net::buffer("0\r\n\r\n", 5);
    head_sent_ = true;
    if (count == 0) co_return error_code{};
    co_return co_await writeBuffers(buffers, count);
}

void ResponseSink::abort() {
    stopWatching();
    aborted_ = true;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
}

}  // namespace aiproxy::http
