#include "aiproxy/http/response_sink.hpp"

#include <boost/beast/http/write.hpp>

namespace aiproxy::http {

ResponseSink::ResponseSink(beast::tcp_stream& stream, std::chrono::milliseconds send_timeout,
                           unsigned client_version, bool client_keep_alive, bool head_request)
    : stream_(stream),
      send_timeout_(send_timeout),
      version_(client_version),
      keep_alive_(client_keep_alive),
      head_(head_request) {}

awaitable<error_code> ResponseSink::send(Response&& response) {
    response.version(version_);
    response.keep_alive(keep_alive_);
    status_ = response.result_int();
    committed_ = true;
    body_bytes_ = response.body().size();
    stream_.expires_after(send_timeout_);
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
    aborted_ = true;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
}

}  // namespace aiproxy::http
