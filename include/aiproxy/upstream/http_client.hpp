#pragma once
// HttpExchange: one attempt's HTTP/1.1 exchange with one node (ARCHITECTURE.md section 5: the
// upstream side of the router/upstream-request split). It takes a pooled connection or makes
// one, writes the request, reads the response head within limits (skipping informational
// answers), and then hands out the body one read at a time, so the caller relays with
// backpressure: nothing is read before the previous chunk was written. A read takes what the
// socket has (up to the buffer, which grows while reads fill it) and decodes all of it, so
// events that arrive together leave together, and a response's last bytes and its end are
// seen in the same read. A pooled connection the
// peer closed just as it was taken gets one fresh connection, without counting as a failure.
// The caller decides what the answer means (retry, commit, relay); this class never sees the
// client.

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
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

// A response body decoded where it was read: each piece the parser hands over (a chunk's data,
// without the chunk framing) moves down to just after the pieces before it, inside the
// connection's read buffer. A read's body ends up contiguous in the bytes it arrived in, so an
// exchange needs no second buffer (a paced stream holds only the read buffer while it waits).
// Pieces never move up: a piece starts after the framing that preceded it.
struct InPlaceBody {
    struct value_type {
        char* begin = nullptr;  // where this read's body starts
        std::size_t size = 0;   // body bytes placed there so far
    };

    class reader {
    public:
        template <bool isRequest, class Fields>
        reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
        void init(const boost::optional<std::uint64_t>&, error_code& ec) { ec = {}; }
        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, error_code& ec) {
            ec = {};
            std::size_t placed = 0;
            for (auto it = boost::asio::buffer_sequence_begin(buffers);
                 it != boost::asio::buffer_sequence_end(buffers); ++it) {
                boost::asio::const_buffer piece = *it;
                char* to = body_.begin + body_.size;
                if (to != piece.data()) std::memmove(to, piece.data(), piece.size());
                body_.size += piece.size();
                placed += piece.size();
            }
            return placed;
        }
        void finish(error_code& ec) { ec = {}; }

    private:
        value_type& body_;
    };
};

using ResponseParser = boost::beast::http::response_parser<InPlaceBody>;

// Decodes everything `buffered` holds (a whole read, or what a head read brought along) in one
// pass: several chunks become one contiguous piece at buffered's start, and a final chunk right
// behind the data ends the body in the same call. Consumes what it parsed; the piece stays
// valid until the buffer is written to again. need_more is not an error (size 0: read more).
BodyRead decodeBuffered(ResponseParser& parser, boost::beast::flat_buffer& buffered);

// How many bytes the next socket read asks for: what is free in the buffer (`initial` when
// that is little), or twice the buffer (up to `max`) when the last read filled what it asked
// for, so a large answer soon comes in large reads and a paced stream keeps a small buffer.
std::size_t nextReadSize(std::size_t capacity, std::size_t buffered, bool filled_last,
                         std::size_t initial, std::size_t max);

class HttpExchange {
public:
    using Response = boost::beast::http::response<InPlaceBody>;
    // The read buffer of a connection starts at this size and doubles, up to the maximum, while
    // reads fill it; a pooled connection keeps the initial size.
    static constexpr std::size_t kInitialReadBytes = 4 * 1024;
    static constexpr std::size_t kMaxReadBytes = 64 * 1024;

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
    // The body bytes already buffered, or else one read's worth, decoded into chunk(); valid
    // until the next read. Size 0 with no error: framing only, read again.
    awaitable<BodyRead> read(Clock::time_point deadline);
    const char* chunk() const { return parser_->get().body().begin; }
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
    template <class Stream>
    awaitable<error_code> readSome(Stream& stream);
    void release();

    ConnectionPool& pool_;
    DnsCache& dns_;
    metrics::GaugeCell* active_;
    std::size_t metrics_slot_;
    const Upstream* upstream_ = nullptr;
    std::unique_ptr<UpstreamConnection> connection_;
    std::optional<ResponseParser> parser_;
    Clock::time_point sent_at_{};
    bool stale_ = false;        // a pooled connection died before any response byte
    bool filled_last_ = false;  // the last read filled the buffer: the next one may grow it
};

}  // namespace aiproxy::upstream
