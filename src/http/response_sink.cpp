#include "aiproxy/http/response_sink.hpp"

#include <sys/socket.h>

#include <boost/beast/http/write.hpp>
#include <cerrno>

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

awaitable<error_code> ResponseSink::send(Response&& response) {
    response.version(version_);
    response.keep_alive(keep_alive_);
    status_ = response.result_int();
    committed_ = true;
    stream_.expires_after(send_timeout_);
    if (head_) {  // same header as for GET, no body (RFC 9110 section 9.3.2)
        bhttp::response_serializer<bhttp::string_body> serializer{response};
        auto [ec, n] = co_await bhttp::async_write_header(stream_, serializer, use_nothrow);
        if (ec) aborted_ = true;
        co_return ec;
    }
    body_bytes_ = response.body().size();
    auto [ec, n] = co_await bhttp::async_write(stream_, response, use_nothrow);
    if (ec) aborted_ = true;
    co_return ec;
}

void ResponseSink::begin(bhttp::response_header<>&& header,
                         std::optional<std::uint64_t> content_length) {
    relay_.emplace(std::move(header));
    relay_->version(version_);
    status_ = relay_->result_int();
    if (content_length) {
        relay_->content_length(*content_length);
    } else if (head_) {
        // A HEAD answer has no body to frame.
    } else if (version_ >= 11) {
        relay_->chunked(true);
    } else {
        keep_alive_ = false;  // HTTP/1.0 without a length: the close ends the body
    }
    relay_->keep_alive(keep_alive_);
    relay_->body().data = nullptr;
    relay_->body().size = 0;
    relay_->body().more = true;
    serializer_.emplace(*relay_);
}

awaitable<error_code> ResponseSink::writeSerializer() {
    committed_ = true;
    stream_.expires_after(send_timeout_);
    auto [ec, n] = co_await bhttp::async_write(stream_, *serializer_, use_nothrow);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) aborted_ = true;
    co_return ec;
}

awaitable<error_code> ResponseSink::write(const void* data, std::size_t size) {
    if (size == 0) co_return error_code{};
    relay_->body().data = const_cast<void*>(data);
    relay_->body().size = size;
    relay_->body().more = true;
    body_bytes_ += size;
    co_return co_await writeSerializer();
}

awaitable<error_code> ResponseSink::finish() {
    if (head_) {
        committed_ = true;
        stream_.expires_after(send_timeout_);
        auto [ec, n] = co_await bhttp::async_write_header(stream_, *serializer_, use_nothrow);
        if (ec) aborted_ = true;
        co_return ec;
    }
    relay_->body().data = nullptr;
    relay_->body().size = 0;
    relay_->body().more = false;
    co_return co_await writeSerializer();
}

void ResponseSink::abort() {
    stopWatching();
    aborted_ = true;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
}

}  // namespace aiproxy::http
