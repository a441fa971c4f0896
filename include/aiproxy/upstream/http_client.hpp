#pragma once
// HttpExchange: one attempt's HTTP/1.1 exchange with one node (ARCHITECTURE.md section 5: the
// upstream side of the router/upstream-request split). It takes a pooled connection or makes
// one, writes the request, reads the response head within limits (skipping informational
// answers), and then hands out the body one read at a time, so the caller relays with
// backpressure: nothing is read before the previous chunk was written. A pooled connection the
// peer closed just as it was taken gets one fresh connection, without counting as a failure.
// The caller decides what the answer means (retry, commit, relay); this class never sees the
// client.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "aiproxy/common/metric_cells.hpp"
#include "aiproxy/upstream/connection_pool.hpp"

namespace aiproxy::upstream {

enum class ExchangeFailure {
    None,
    Connect,  // DNS, TCP connect or TLS handshake failed
    Timeout,  // the deadline passed
    Reset,    // closed, garbage or a protocol error before the response head was whole
};

struct ExchangeLimits {
    std::size_t max_header_bytes = 64 * 1024;
    std::size_t max_body_bytes = 256 * 1024 * 1024;
    bool head_request = false;  // HEAD: the response has no body
};

struct ExchangeStart {
    ExchangeFailure failure = ExchangeFailure::None;
    std::string detail;          // why it failed, for logs and the final error
    bool client_cancel = false;  // the caller's client left while connecting: nothing was sent
};

// A deadline (or socket timer) ran out, as opposed to the peer closing or misbehaving.
bool isTimeout(const error_code& ec);

struct BodyRead {
    error_code error;
    std::size_t size = 0;  // body bytes placed in the buffer
};

class HttpExchange {
public:
    using Response = boost::beast::http::response<boost::beast::http::buffer_body>;
    static constexpr std::size_t kChunkBytes = 16 * 1024;

    // active (may be null) counts this worker's connections busy with an exchange.
    HttpExchange(ConnectionPool& pool, DnsCache& dns, metrics::GaugeCell* active,
                 std::size_t metrics_slot);
    ~HttpExchange();
    HttpExchange(const HttpExchange&) = delete;
    HttpExchange& operator=(const HttpExchange&) = delete;

    // Sends head + body to node and reads the response head, all before `deadline`.
    // `abandoned` is read after connecting: true means the client left, and nothing is sent.
    awaitable<ExchangeStart> start(const Upstream& upstream, const Node& node,
                                   std::string_view head, std::string_view body,
                                   const ExchangeLimits& limits, Clock::time_point deadline,
                                   const bool& abandoned);

    // After a successful start().
    const Response& response() const { return parser_->get(); }
    Clock::time_point sentAt() const { return sent_at_; }
    // An event stream has no size limit: it is bounded by time instead.
    void unlimitBody() { parser_->body_limit(boost::none); }
    // Reads once into chunk() (need_buffer is not an error).
    awaitable<BodyRead> read(Clock::time_point deadline);
    const char* chunk() const { return chunk_.data(); }
    bool done() const { return parser_->is_done(); }
    // The length the client may be told, when the upstream's is known and applies.
    std::optional<std::uint64_t> clientContentLength() const;

    // The client left: the exchange in progress fails at once.
    void cancel();
    // The response was read whole and the connection can carry another: back to the pool.
    // Otherwise the connection is closed when the exchange ends.
    void finish();

private:
    template <class Stream>
    awaitable<ExchangeStart> send(Stream& stream, std::string_view head, std::string_view body,
                                  const ExchangeLimits& limits, Clock::time_point deadline);
    void release();

    ConnectionPool& pool_;
    DnsCache& dns_;
    metrics::GaugeCell* active_;
    std::size_t metrics_slot_;
    const Upstream* upstream_ = nullptr;
    std::unique_ptr<UpstreamConnection> connection_;
    std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;
    Clock::time_point sent_at_{};
    bool stale_ = false;  // a pooled connection died before any response byte
    std::array<char, kChunkBytes> chunk_;
};

}  // namespace aiproxy::upstream
