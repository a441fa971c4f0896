#include "aiproxy/http/response_sink.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <cstdio>
#include <span>

#include "aiproxy/common/ascii.hpp"

namespace aiproxy::http {
namespace {

// A TLS client that leaves sends a close_notify alert, then its FIN, which may arrive a moment
// later; readable bytes alone do not tell an alert (encrypted in TLS 1.3) from a pipelined
// request. So the FIN is looked for a few times; a client still connected after that is alive.
constexpr std::chrono::milliseconds kTlsFinCheckInterval{50};
constexpr int kTlsFinChecks = 20;

bool peerHalfClosed(int fd) {
    pollfd poll_fd{.fd = fd, .events = POLLRDHUP, .revents = 0};
    return ::poll(&poll_fd, 1, 0) > 0 && (poll_fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

ResponseSink::ResponseSink(beast::tcp_stream& stream, std::chrono::milliseconds send_timeout,
                           unsigned client_version, bool client_keep_alive, bool head_request)
    : stream_(stream),
      send_timeout_(send_timeout),
      version_(client_version),
      keep_alive_(client_keep_alive),
      head_(head_request) {}

ResponseSink::ResponseSink(TlsStream& stream, std::chrono::milliseconds send_timeout,
                           unsigned client_version, bool client_keep_alive, bool head_request)
    : ResponseSink(stream.next_layer(), send_timeout, client_version, client_keep_alive,
                   head_request) {
    tls_ = &stream;
}

ResponseSink::~ResponseSink() {
    stopWatching();
}

void ResponseSink::watchForClose(std::function<void()> on_close) {
    stopWatching();
    auto watch = std::make_shared<CloseWatch>();
    watch->on_close = std::move(on_close);
    watch_ = watch;
    auto& socket = stream_.socket();
    bool tls = tls_ != nullptr;
    socket.async_wait(tcp::socket::wait_read, [watch, &socket, tls](const error_code& ec) {
        if (ec || !watch->active) return;  // inactive: the socket may be gone, do not touch it
        char byte = 0;
        auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 && tls) {
            watchForTlsFin(watch, socket);
            return;
        }
        bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        // n > 0: the client pipelined its next request; it is alive, stop watching.
        if (closed) fire(*watch);
    });
}

void ResponseSink::fire(CloseWatch& watch) {
    if (!watch.on_close) return;
    watch.active = false;
    watch.on_close();
}

void ResponseSink::watchForTlsFin(const std::shared_ptr<CloseWatch>& watch, tcp::socket& socket) {
    if (peerHalfClosed(socket.native_handle())) {
        fire(*watch);
        return;
    }
    if (++watch->fin_checks > kTlsFinChecks) return;
    auto timer = std::make_shared<net::steady_timer>(socket.get_executor(), kTlsFinCheckInterval);
    timer->async_wait([watch, &socket, timer](const error_code& ec) {
        if (!ec && watch->active) watchForTlsFin(watch, socket);
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

namespace {

// A field that would split the head (CR, LF) or end a C string (NUL) never goes out, whatever
// put it there: request data, an upstream, a bug. Last line of defence behind the checks where
// values enter (RFC 9110 section 5.5).
bool safeField(std::string_view name, std::string_view value) {
    auto bad = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
    return std::none_of(name.begin(), name.end(), bad) &&
           std::none_of(value.begin(), value.end(), bad);
}

}  // namespace

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
    auto replaced = [this](std::string_view name) {
        for (const auto& extra : extra_headers_) {
            if (common::equalsIgnoreCase(extra.first, name)) return true;
        }
        return false;
    };
    for (const auto& field : header) {
        auto name = field.name();
        if (name == bhttp::field::content_length || name == bhttp::field::transfer_encoding ||
            name == bhttp::field::connection) {
            continue;  // framing is ours to decide
        }
        if (!extra_headers_.empty() && replaced(field.name_string())) continue;
        if (!safeField(field.name_string(), field.value())) continue;
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    for (const auto& [name, value] : extra_headers_) {
        if (!safeField(name, value)) continue;
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    if (status_ == 204 || (status_ >= 100 && status_ < 200)) {
        // No body and no Content-Length (RFC 9110 section 8.6).
    } else if (status_ == 304) {
        // No body; a Content-Length given describes the representation (RFC 9110 8.6).
        if (content_length) out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
    } else if (content_length) {
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
    std::span<const net::const_buffer> sequence(buffers, count);
    auto [ec, n] = tls_ ? co_await net::async_write(*tls_, sequence, use_nothrow)
                        : co_await net::async_write(stream_, sequence, use_nothrow);
    if (ec) aborted_ = true;
    co_return ec;
}

void ResponseSink::addHeader(std::string name, std::string value) {
    extra_headers_.emplace_back(std::move(name), std::move(value));
}

void ResponseSink::capturePayload(std::size_t max_bytes) {
    payload_limit_ = max_bytes;
}

void ResponseSink::capture(const void* data, std::size_t size) {
    if (!payload_limit_ || head_) return;
    std::size_t room = *payload_limit_ - payload_.size();
    if (size > room) payload_truncated_ = true;
    payload_.append(static_cast<const char*>(data), std::min(size, room));
}

awaitable<error_code> ResponseSink::send(Response&& response) {
    std::optional<std::uint64_t> length = response.body().size();
    serializeHead(response.base(), length);
    head_sent_ = true;
    net::const_buffer buffers[2] = {net::buffer(head_buffer_), net::buffer(response.body())};
    body_bytes_ = head_ ? 0 : response.body().size();
    capture(response.body().data(), response.body().size());
    // Same header as for GET, no body for HEAD (RFC 9110 section 9.3.2).
    co_return co_await writeBuffers(buffers, head_ ? 1 : 2);
}

void ResponseSink::begin(bhttp::response_header<>&& header,
                         std::optional<std::uint64_t> content_length) {
    serializeHead(header, content_length);
    head_sent_ = false;
}

awaitable<error_code> ResponseSink::write(const void* data, std::size_t size, bool body_ends) {
    if (size == 0 || head_) co_return error_code{};
    char chunk_line[24];
    std::size_t chunk_line_size = 0;
    if (chunked_) {
        chunk_line_size =
            static_cast<std::size_t>(std::snprintf(chunk_line, sizeof chunk_line, "%zx\r\n", size));
    }
    if (body_ends && chunked_) {
        // Behind the head if that is still unsent: finish() writes it all with the last chunk.
        if (head_sent_) head_buffer_.clear();
        head_buffer_.append(chunk_line, chunk_line_size);
        head_buffer_.append(static_cast<const char*>(data), size);
        head_buffer_ += "\r\n";
        head_sent_ = false;
        committed_ = true;
        body_bytes_ += size;
        capture(data, size);
        co_return error_code{};
    }
    net::const_buffer buffers[4];
    std::size_t count = 0;
    if (!head_sent_) buffers[count++] = net::buffer(head_buffer_);
    if (chunked_) buffers[count++] = net::buffer(chunk_line, chunk_line_size);
    buffers[count++] = net::buffer(data, size);
    if (chunked_) buffers[count++] = net::buffer("\r\n", 2);
    head_sent_ = true;
    body_bytes_ += size;
    capture(data, size);
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
