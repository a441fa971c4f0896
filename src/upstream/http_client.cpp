#include "aiproxy/upstream/http_client.hpp"

#include <charconv>

#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>

namespace aiproxy::upstream {
namespace {

namespace bhttp = boost::beast::http;
namespace net = boost::asio;

constexpr int kMaxInformationalResponses = 4;
using common::use_nothrow;

ExchangeFailure failureOf(const error_code& ec) {
    return isTimeout(ec) ? ExchangeFailure::Timeout : ExchangeFailure::Reset;
}

}  // namespace

bool isTimeout(const error_code& ec) {
    return ec == boost::beast::error::timeout || ec == net::error::timed_out;
}

HttpExchange::HttpExchange(ConnectionPool& pool, DnsCache& dns, metrics::GaugeCell* active,
                           std::size_t metrics_slot)
    : pool_(pool), dns_(dns), active_(active), metrics_slot_(metrics_slot) {}

HttpExchange::~HttpExchange() {
    release();
}

awaitable<ExchangeStart> HttpExchange::start(const Upstream& upstream, const Node& node,
                                             std::string_view head, std::string_view body,
                                             const ExchangeLimits& limits,
                                             Clock::time_point deadline, const bool& abandoned) {
    upstream_ = &upstream;
    auto began = Clock::now();
    for (int round = 0; round < 2; ++round) {
        std::unique_ptr<UpstreamConnection> connection;
        if (round == 0) connection = pool_.take(poolKey(upstream, node));
        if (!connection) {
            auto connected = co_await connectTo(upstream, node, dns_, deadline);
            if (!connected.connection) {
                bool timeout = connected.error == ConnectError::Timeout;
                co_return ExchangeStart{
                    .failure = timeout ? ExchangeFailure::Timeout : ExchangeFailure::Connect,
                    .detail = connected.message};
            }
            connection = std::move(connected.connection);
        }
        if (abandoned) {
            // Gone while we connected: the prompt is not sent, so it costs nothing.
            pool_.give(std::move(connection), upstream.config().keepalive_pool);
            co_return ExchangeStart{.failure = ExchangeFailure::Reset,
                                    .detail = "the client closed the connection",
                                    .client_cancel = true};
        }
        connection_ = std::move(connection);
        if (active_) active_->add(metrics_slot_, +1);
        stale_ = false;
        ExchangeStart started;
        if (auto* plain = std::get_if<UpstreamConnection::Plain>(&connection_->stream())) {
            started = co_await send(*plain, head, body, limits, deadline);
        } else {
            started = co_await send(std::get<UpstreamConnection::Tls>(connection_->stream()), head,
                                    body, limits, deadline);
        }
        if (started.failure == ExchangeFailure::Timeout && parser_ && !parser_->got_some()) {
            auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - began);
            started.detail = "no response within " + std::to_string(budget.count()) + " ms";
        }
        if (started.failure == ExchangeFailure::None) co_return started;
        release();
        // A pooled connection the peer had closed is not the node's fault: one fresh try.
        if (!(stale_ && round == 0 && !abandoned)) co_return started;
    }
    co_return ExchangeStart{.failure = ExchangeFailure::Reset,
                            .detail = "connection closed before the response"};
}

template <class Stream>
awaitable<ExchangeStart> HttpExchange::send(Stream& stream, std::string_view head,
                                            std::string_view body, const ExchangeLimits& limits,
                                            Clock::time_point deadline) {
    auto& tcp = connection_->tcp();
    parser_.reset();
    filled_last_ = false;
    // The head is read into this too, and whatever part of the body came with it.
    if (connection_->buffer().capacity() < kInitialReadBytes) {
        connection_->buffer().reserve(kInitialReadBytes);
    }
    std::array<net::const_buffer, 2> request{net::buffer(head), net::buffer(body)};
    sent_at_ = Clock::now();
    tcp.expires_at(std::min(deadline, sent_at_ + upstream_->config().timeout.send));
    auto [write_ec, written] = co_await net::async_write(stream, request, use_nothrow);
    if (write_ec) {
        stale_ = connection_->reused;
        co_return ExchangeStart{.failure = failureOf(write_ec),
                                .detail = "sending the request failed: " + write_ec.message()};
    }
    for (int informational = 0;; ++informational) {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
        parser_->body_limit(limits.max_body_bytes);
        if (limits.head_request) parser_->skip(true);
        tcp.expires_at(deadline);
        auto [ec, n] =
            co_await bhttp::async_read_header(stream, connection_->buffer(), *parser_, use_nothrow);
        if (ec) {
            bool nothing = !parser_->got_some() && informational == 0;
            stale_ = nothing && connection_->reused && !isTimeout(ec);
            co_return ExchangeStart{.failure = failureOf(ec),
                                    .detail = "reading the response failed: " + ec.message()};
        }
        unsigned status = parser_->get().result_int();
        if (status == 101) {
            // The client's Upgrade never reaches an upstream, so a switch is a broken upstream;
            // relaying it would hand the client a connection in another protocol.
            co_return ExchangeStart{
                .failure = ExchangeFailure::Reset,
                .detail =
                    "the upstream answered 101 Switching Protocols to a request without Upgrade"};
        }
        if (status < 100 || status >= 200) co_return ExchangeStart{};
        if (informational >= kMaxInformationalResponses) {
            co_return ExchangeStart{.failure = ExchangeFailure::Reset,
                                    .detail = "too many informational responses"};
        }
    }
}

BodyRead decodeBuffered(ResponseParser& parser, boost::beast::flat_buffer& buffered) {
    auto& body = parser.get().body();
    auto data = buffered.data();
    body.begin = static_cast<char*>(data.data());
    body.size = 0;
    if (data.size() == 0 || parser.is_done()) return {};
    parser.eager(true);
    error_code ec;
    std::size_t used = parser.put(net::const_buffer(data.data(), data.size()), ec);
    // Consuming resets the buffer's positions, not its bytes: the piece stays where it is.
    buffered.consume(used);
    if (ec == bhttp::error::need_more) ec = {};
    return BodyRead{.error = ec, .size = ec ? 0 : body.size};
}

std::size_t nextReadSize(std::size_t capacity, std::size_t buffered, bool filled_last,
                         std::size_t initial, std::size_t max) {
    std::size_t want = capacity - buffered;
    if (filled_last && 2 * capacity <= max) want = 2 * capacity - buffered;
    // Leftover framing takes a few bytes: read into the rest rather than reallocate for them.
    return want >= initial / 4 ? want : initial;
}

awaitable<BodyRead> HttpExchange::read(Clock::time_point deadline) {
    auto& buffer = connection_->buffer();
    connection_->tcp().expires_at(deadline);
    for (;;) {
        auto decoded = decodeBuffered(*parser_, buffer);
        if (decoded.error || decoded.size > 0 || parser_->is_done()) co_return decoded;
        error_code ec;
        if (auto* plain = std::get_if<UpstreamConnection::Plain>(&connection_->stream())) {
            ec = co_await readSome(*plain);
        } else {
            ec = co_await readSome(std::get<UpstreamConnection::Tls>(connection_->stream()));
        }
        if (ec == net::error::eof) {
            // The end of a body delimited by the close, or a cut one (as Beast's read_some).
            ec = {};
            parser_->put_eof(ec);
            co_return BodyRead{.error = ec};
        }
        if (ec) co_return BodyRead{.error = ec};
    }
}

template <class Stream>
awaitable<error_code> HttpExchange::readSome(Stream& stream) {
    auto& buffer = connection_->buffer();
    std::size_t want = nextReadSize(buffer.capacity(), buffer.size(), filled_last_,
                                    kInitialReadBytes, kMaxReadBytes);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(want), use_nothrow);
    buffer.commit(n);
    filled_last_ = n == want;
    co_return ec;
}

std::optional<std::uint64_t> HttpExchange::clientContentLength() const {
    const auto& response = parser_->get();
    unsigned status = response.result_int();
    if (status == 204) return 0;  // the sink writes no Content-Length for it
    if (status == 304) {
        // The upstream's, if it sent one: it describes the representation, not a body.
        std::uint64_t length = 0;
        auto field = response[bhttp::field::content_length];
        auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), length);
        if (field.empty() || ec != std::errc{} || end != field.data() + field.size()) {
            return std::nullopt;
        }
        return length;
    }
    if (auto length = parser_->content_length()) return *length;
    return std::nullopt;
}

void HttpExchange::cancel() {
    if (connection_) connection_->tcp().cancel();
}

void HttpExchange::finish() {
    if (connection_ && parser_ && parser_->is_done() && parser_->get().keep_alive()) {
        connection_->requests++;
        connection_->tcp().expires_never();
        // A large answer grew the buffer; an idle connection keeps only the initial size.
        auto& buffer = connection_->buffer();
        if (buffer.capacity() > kInitialReadBytes && buffer.size() == 0) buffer.shrink_to_fit();
        if (active_) active_->add(metrics_slot_, -1);
        pool_.give(std::move(connection_), upstream_->config().keepalive_pool);
        return;
    }
    release();
}

void HttpExchange::release() {
    if (!connection_) return;
    if (active_) active_->add(metrics_slot_, -1);
    connection_.reset();
}

}  // namespace aiproxy::upstream
