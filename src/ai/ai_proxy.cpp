#include "aiproxy/ai/ai_proxy.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cmath>

#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "aiproxy/http/json_error.hpp"

namespace aiproxy::ai {
namespace {

namespace bhttp = http::bhttp;
using http::awaitable;
using http::error_code;
using http::use_nothrow;
using upstream::Clock;
using upstream::UpstreamConnection;

constexpr std::size_t kRelayBufferBytes = 16 * 1024;
constexpr std::size_t kMaxKeptErrorBody = 64 * 1024;
constexpr int kMaxInformationalResponses = 4;

using UpstreamParser = bhttp::response_parser<bhttp::buffer_body>;

// A retryable answer kept in case every later attempt fails without one (section 4.7).
struct KeptResponse {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

struct AttemptReport {
    AttemptOutcome outcome;
    std::string detail;      // why the attempt failed, for logs and the final error
    bool committed = false;  // the client has seen bytes of this attempt's response
    bool reusable = false;   // the connection is at a message boundary and may be pooled
    bool stale = false;      // a pooled connection died before any response byte
    std::optional<KeptResponse> kept;
    unsigned status = 0;  // the upstream's status, when a response header arrived
    std::optional<double> time_to_first_token;  // seconds from sending to the first body byte
    StreamOutcome stream = StreamOutcome::None;
};

AttemptLabel labelOf(const AttemptReport& report) {
    switch (report.outcome.failure) {
        case Failure::Connect:
            return AttemptLabel::ConnectError;
        case Failure::Timeout:
            return AttemptLabel::Timeout;
        case Failure::Reset:
            return AttemptLabel::Reset;
        case Failure::Status:
        case Failure::None:
            break;
    }
    if (report.status == 429) return AttemptLabel::Status429;
    if (report.status >= 500) return AttemptLabel::Status5xx;
    if (report.status >= 400) return AttemptLabel::Status4xx;
    return AttemptLabel::Success;
}

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

class StreamGauge {
public:
    StreamGauge(metrics::GaugeCell* cell, std::size_t slot) : cell_(cell), slot_(slot) {
        if (cell_) cell_->add(slot_, +1);
    }
    ~StreamGauge() {
        if (cell_) cell_->add(slot_, -1);
    }
    StreamGauge(const StreamGauge&) = delete;
    StreamGauge& operator=(const StreamGauge&) = delete;

private:
    metrics::GaugeCell* cell_;
    std::size_t slot_;
};

bool isTimeout(const error_code& ec) {
    return ec == boost::beast::error::timeout || ec == http::net::error::timed_out;
}

class ProxyCall {
public:
    ProxyCall(const AiProxyRoute& route, const ForwardPath& forward, http::ClientRequest& request,
              http::ResponseSink& sink, WorkerServices& services)
        : route_(route), forward_(forward), request_(request), sink_(sink), services_(services) {
        // Serialized once per request; each attempt adds only its request line and Host.
        const auto& client = request_.message;
        forwarded_head_.reserve(1024);
        http::appendEndToEndFields(forwarded_head_, client.base(),
                                   {"host", "content-length", "expect", "x-forwarded-for",
                                    "x-forwarded-proto", "x-forwarded-host", "x-request-id"});
        forwarded_head_ += "X-Forwarded-For: ";
        forwarded_head_ +=
            http::appendForwardedFor(client["X-Forwarded-For"], request_.peer_address);
        forwarded_head_ += "\r\nX-Forwarded-Proto: http\r\n";
        if (auto host = client[bhttp::field::host]; !host.empty()) {
            forwarded_head_ += "X-Forwarded-Host: ";
            forwarded_head_ += host;
            forwarded_head_ += "\r\n";
        }
        forwarded_head_ += "X-Request-Id: ";
        forwarded_head_ += request_.request_id;
        forwarded_head_ += "\r\n";
        const auto& body = client.body();
        auto method = client.method();
        if (!body.empty() || method == bhttp::verb::post || method == bhttp::verb::put ||
            method == bhttp::verb::patch) {
            forwarded_head_ += "Content-Length: ";
            forwarded_head_ += std::to_string(body.size());
            forwarded_head_ += "\r\n";
        }
        forwarded_head_ += "\r\n";
    }

    awaitable<void> run() {
        std::optional<AttemptPlan::Pool> fallback;
        if (route_.fallback) {
            fallback = AttemptPlan::Pool{route_.fallback.get(),
                                         &services_.balancers.get(*route_.fallback)};
        }
        AttemptPlan plan{route_.config.retry,
                         route_.config.retry_on,
                         {route_.primary.get(), &services_.balancers.get(*route_.primary)},
                         fallback};
        AttemptReport last;
        std::optional<KeptResponse> kept;
        const upstream::Upstream* last_upstream = route_.primary.get();
        sink_.watchForClose([this] {
            client_gone_ = true;
            if (active_connection_) active_connection_->tcp().cancel();
        });
        bool fell_back = false;
        while (auto target = plan.next()) {
            last_upstream = target->upstream;
            result_.upstream_id = &target->upstream->id();
            if (plan.attempts() > 1) count(route_.metrics.retries[target->fallback ? 1 : 0]);
            if (target->fallback && !fell_back) {
                fell_back = true;
                count(route_.metrics.fallbacks);
            }
            auto started = Clock::now();
            last = co_await attempt(*target, plan);
            recordAttempt(*target, last, started);
            if (client_gone_) {
                spdlog::info("request {}: client closed the connection; upstream request cancelled",
                             request_.request_id);
                sink_.abort();
                co_return;
            }
            if (last.committed) {
                sink_.stopWatching();
                co_return;
            }
            const auto& node = target->upstream->nodes()[target->node];
            spdlog::warn("request {}: attempt {} to {} {} failed: {} ({})", request_.request_id,
                         plan.attempts(), target->upstream->id(), node.address,
                         attemptLabelName(labelOf(last)), last.detail);
            if (last.kept) kept = std::move(last.kept);
            if (plan.record(last.outcome) == Verdict::Done) break;
        }
        sink_.stopWatching();
        co_await answerFailure(last, std::move(kept), *last_upstream, plan.attempts());
    }

    ProxyResult& result() { return result_; }

private:
    void count(metrics::CounterCell* cell) {
        if (cell) cell->add(services_.metrics_slot);
    }
    void gauge(metrics::GaugeCell* cell, std::int64_t delta) {
        if (cell) cell->add(services_.metrics_slot, delta);
    }
    const DataPathMetrics& metricsOf() const {
        static const DataPathMetrics kNone;
        return services_.metrics ? *services_.metrics : kNone;
    }

    void recordAttempt(const AttemptTarget& target, const AttemptReport& report,
                       Clock::time_point started) {
        const auto& node = target.upstream->nodes()[target.node];
        auto label = labelOf(report);
        double seconds = secondsSince(started);
        result_.node = node.address;
        result_.trace.push_back(AttemptTrace{.upstream_id = target.upstream->id(),
                                             .node = node.address,
                                             .label = label,
                                             .status = report.status,
                                             .ms = seconds * 1000});
        result_.attempts = static_cast<int>(result_.trace.size());
        if (!report.committed) {
            if (!trace_.empty()) trace_ += ',';
            trace_ += target.upstream->id();
            trace_ += ':';
            trace_ += report.outcome.failure == Failure::Status
                          ? std::to_string(report.status)
                          : std::string(attemptLabelName(label));
            trace_ += ':';
            trace_ += std::to_string(std::lround(seconds * 1000));
            trace_ += "ms";
        }
        // Relaying a committed response is upstream time too: the gateway only forwards.
        result_.upstream_seconds += seconds;
        if (report.committed) {
            result_.time_to_first_token = report.time_to_first_token;
            result_.stream = report.stream;
        }
        const auto* upstream_metrics =
            target.fallback ? route_.metrics.fallback : route_.metrics.primary;
        if (upstream_metrics && target.node < upstream_metrics->attempts.size()) {
            count(upstream_metrics->attempts[target.node][static_cast<std::size_t>(label)]);
        }
    }

    // "METHOD target HTTP/1.1", Host, then the per-request part.
    std::string requestHead(const upstream::Upstream& upstream, const upstream::Node& node) {
        const auto& client = request_.message;
        std::string head;
        head.reserve(forwarded_head_.size() + 160);
        head += client.method_string();
        head += ' ';
        head +=
            upstreamTarget(upstream.config().base_path, forward_, request_.path, request_.query);
        head += " HTTP/1.1\r\nHost: ";
        head += route_.config.enable_upstream_host ? std::string_view(node.host_header)
                                                   : std::string_view(client[bhttp::field::host]);
        head += "\r\n";
        head += forwarded_head_;
        return head;
    }

    awaitable<AttemptReport> attempt(const AttemptTarget& target, const AttemptPlan& plan) {
        const auto& upstream = *target.upstream;
        const auto& node = upstream.nodes()[target.node];
        attempts_so_far_ = plan.attempts();
        auto deadline = Clock::now() + route_.config.timeout;
        // A pooled connection may have been closed by the peer just as we picked it; that is
        // not the node's fault, so it gets one fresh connection without spending an attempt.
        for (int round = 0; round < 2; ++round) {
            std::unique_ptr<UpstreamConnection> connection;
            if (round == 0) connection = services_.pool.take(upstream::poolKey(upstream, node));
            if (!connection) {
                auto connected =
                    co_await upstream::connectTo(upstream, node, services_.dns, deadline);
                if (!connected.connection) {
                    bool timeout = connected.error == upstream::ConnectError::Timeout;
                    co_return AttemptReport{
                        .outcome = {.failure = timeout ? Failure::Timeout : Failure::Connect},
                        .detail = connected.message};
                }
                connection = std::move(connected.connection);
            }
            AttemptReport report;
            active_connection_ = connection.get();
            gauge(metricsOf().connections_active, +1);
            if (auto* plain = std::get_if<UpstreamConnection::Plain>(&connection->stream())) {
                report = co_await exchange(*plain, *connection, target, plan, deadline);
            } else {
                report = co_await exchange(std::get<UpstreamConnection::Tls>(connection->stream()),
                                           *connection, target, plan, deadline);
            }
            active_connection_ = nullptr;
            gauge(metricsOf().connections_active, -1);
            // A complete exchange leaves the connection reusable even if the client has left.
            if (report.reusable) {
                connection->requests++;
                connection->tcp().expires_never();
                services_.pool.give(std::move(connection), upstream.config().keepalive_pool);
            }
            if (report.stale && round == 0 && !client_gone_) continue;
            co_return report;
        }
        co_return AttemptReport{.outcome = {.failure = Failure::Reset},
                                .detail = "connection closed before the response"};
    }

    template <class Stream>
    awaitable<AttemptReport> exchange(Stream& stream, UpstreamConnection& connection,
                                      const AttemptTarget& target, const AttemptPlan& plan,
                                      Clock::time_point deadline) {
        const auto& upstream = *target.upstream;
        const auto& node = upstream.nodes()[target.node];
        const auto& timeouts = upstream.config().timeout;
        auto& tcp = connection.tcp();
        auto& buffer = connection.buffer();

        std::string head = requestHead(upstream, node);
        const auto& body = request_.message.body();
        std::array<http::net::const_buffer, 2> request{http::net::buffer(head),
                                                       http::net::buffer(body)};
        auto sent_at = Clock::now();
        tcp.expires_at(std::min(deadline, sent_at + timeouts.send));
        auto [write_ec, written] = co_await http::net::async_write(stream, request, use_nothrow);
        if (write_ec) {
            co_return AttemptReport{
                .outcome = {.failure = isTimeout(write_ec) ? Failure::Timeout : Failure::Reset},
                .detail = "sending the request failed: " + write_ec.message(),
                .stale = connection.reused};
        }

        std::optional<UpstreamParser> parser;
        for (int informational = 0;; ++informational) {
            parser.emplace();
            parser->header_limit(static_cast<std::uint32_t>(route_.max_response_header_bytes));
            parser->body_limit(route_.max_response_body_bytes);
            if (request_.message.method() == bhttp::verb::head) parser->skip(true);
            tcp.expires_at(deadline);
            auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, *parser, use_nothrow);
            if (ec) {
                bool nothing = !parser->got_some() && informational == 0;
                co_return AttemptReport{
                    .outcome = {.failure = isTimeout(ec) ? Failure::Timeout : Failure::Reset},
                    .detail =
                        (isTimeout(ec) ? "no response within " +
                                             std::to_string(route_.config.timeout.count()) + " ms"
                                       : "reading the response failed: " + ec.message()),
                    .stale = nothing && connection.reused && !isTimeout(ec)};
            }
            unsigned status = parser->get().result_int();
            if (status < 100 || status >= 200 || status == 101) break;
            if (informational >= kMaxInformationalResponses) {
                co_return AttemptReport{.outcome = {.failure = Failure::Reset},
                                        .detail = "too many informational responses"};
            }
        }
        auto& response = parser->get();
        const unsigned status = response.result_int();
        bool event_stream = response[bhttp::field::content_type].starts_with("text/event-stream");
        if (event_stream) parser->body_limit(boost::none);  // streams are bounded by time instead

        if (plan.wouldRetry(static_cast<int>(status))) {
            auto kept = co_await keepRetryableAnswer(stream, connection, *parser, deadline);
            kept.status = status;
            co_return kept;
        }

        // Commit point: the first body byte (or a complete empty body). Until it arrives the
        // attempt can still fail over, so an upstream that says 200 and dies is retried.
        std::array<char, kRelayBufferBytes> chunk;
        std::size_t got = 0;
        error_code body_ec;
        while (!parser->is_done() && got == 0) {
            std::tie(body_ec, got) =
                co_await readSome(stream, connection, *parser, chunk, deadline);
            if (body_ec) {
                co_return AttemptReport{
                    .outcome = {.failure = isTimeout(body_ec) ? Failure::Timeout : Failure::Reset},
                    .detail = "upstream failed before the first body byte: " + body_ec.message(),
                    .status = status};
            }
        }

        sink_.begin(clientHeader(response, upstream, event_stream, secondsSince(sent_at)),
                    clientContentLength(*parser));
        AttemptReport report{
            .committed = true,
            .status = status,
            .time_to_first_token = secondsSince(sent_at),
            .stream = event_stream ? StreamOutcome::ClientCancel : StreamOutcome::None};
        // Counted while it runs; whatever way it ends, the guard takes it off again.
        StreamGauge active{event_stream ? route_.metrics.active_streams : nullptr,
                           services_.metrics_slot};
        // The client may send its next request as soon as it has this response; stop watching
        // before the last write, or its next request would wake the watch for nothing.
        if (parser->is_done()) sink_.stopWatching();
        if (got > 0) {
            if (auto ec = co_await sink_.write(chunk.data(), got); ec) co_return report;
        }
        while (!parser->is_done()) {
            // Between chunks the route's timeout bounds the idle gap, not the whole stream.
            auto idle_deadline = Clock::now() + route_.config.timeout;
            std::tie(body_ec, got) =
                co_await readSome(stream, connection, *parser, chunk, idle_deadline);
            if (body_ec) {
                if (!client_gone_) {
                    spdlog::warn("request {}: {} {} failed after the response started: {}",
                                 request_.request_id, upstream.id(), node.address,
                                 body_ec.message());
                }
                sink_.abort();
                if (event_stream && !client_gone_) report.stream = StreamOutcome::UpstreamCut;
                co_return report;
            }
            if (parser->is_done()) sink_.stopWatching();
            if (got > 0) {
                if (auto ec = co_await sink_.write(chunk.data(), got); ec) {
                    co_return report;  // the client went away: drop the upstream connection
                }
            }
        }
        if (auto ec = co_await sink_.finish(); ec) co_return report;
        report.reusable = response.keep_alive();
        if (event_stream) report.stream = StreamOutcome::Complete;
        co_return report;
    }

    // One read from the upstream into chunk; returns the body bytes it produced.
    template <class Stream>
    awaitable<std::pair<error_code, std::size_t>> readSome(
        Stream& stream, UpstreamConnection& connection, UpstreamParser& parser,
        std::array<char, kRelayBufferBytes>& chunk, Clock::time_point deadline) {
        auto& body = parser.get().body();
        body.data = chunk.data();
        body.size = chunk.size();
        connection.tcp().expires_at(deadline);
        auto [ec, n] =
            co_await bhttp::async_read_some(stream, connection.buffer(), parser, use_nothrow);
        if (ec == bhttp::error::need_buffer) ec = {};
        co_return std::pair{ec, chunk.size() - body.size};
    }

    // Reads a retryable answer's body (bounded) so it can be returned if nothing better comes.
    template <class Stream>
    awaitable<AttemptReport> keepRetryableAnswer(Stream& stream, UpstreamConnection& connection,
                                                 UpstreamParser& parser,
                                                 Clock::time_point deadline) {
        auto& response = parser.get();
        unsigned status = response.result_int();
        KeptResponse kept{.status = status,
                          .content_type = std::string(response[bhttp::field::content_type])};
        std::array<char, kRelayBufferBytes> chunk;
        bool complete = parser.is_done();
        while (!complete && kept.body.size() < kMaxKeptErrorBody) {
            auto [ec, got] = co_await readSome(stream, connection, parser, chunk, deadline);
            if (ec) break;
            kept.body.append(chunk.data(), got);
            complete = parser.is_done();
        }
        if (kept.body.size() > kMaxKeptErrorBody) kept.body.resize(kMaxKeptErrorBody);
        co_return AttemptReport{
            .outcome = {.failure = Failure::Status, .status = static_cast<int>(status)},
            .detail = "status " + std::to_string(status),
            .reusable = complete && response.keep_alive(),
            .kept = std::move(kept)};
    }

    bhttp::response_header<> clientHeader(const bhttp::response_header<>& upstream_header,
                                          const upstream::Upstream& upstream, bool event_stream,
                                          double ttft_seconds) {
        bhttp::response_header<> header = upstream_header;
        http::removeHopByHop(header);
        header.erase(bhttp::field::content_length);
        if (event_stream) header.set("X-Accel-Buffering", "no");
        std::string current = upstream.id() + ":" + std::to_string(upstream_header.result_int()) +
                              ":ttft=" + std::to_string(std::lround(ttft_seconds * 1000)) + "ms";
        addGatewayHeaders(header, upstream.id(), current);
        return header;
    }

    // X-AIProxy-Trace: the failed attempts so far ("openai:connect_error:0ms", "openai:503:4ms"),
    // then the answering one ("local:200:ttft=12ms"). The count stays in X-AIProxy-Attempts.
    template <class Fields>
    void addGatewayHeaders(Fields& header, const std::string& upstream_id,
                           std::string_view answering = {}) {
        header.set("X-Request-Id", request_.request_id);
        if (route_.expose_upstream_headers) {
            header.set("X-AIProxy-Upstream", upstream_id);
            header.set("X-AIProxy-Attempts", std::to_string(attempts_so_far_));
            std::string trace = trace_;
            if (!answering.empty()) {
                if (!trace.empty()) trace += ',';
                trace += answering;
            }
            if (!trace.empty()) header.set("X-AIProxy-Trace", trace);
        }
    }

    static std::optional<std::uint64_t> clientContentLength(const UpstreamParser& parser) {
        unsigned status = parser.get().result_int();
        if (status == 204 || status == 304) return 0;
        if (auto length = parser.content_length()) return *length;
        return std::nullopt;
    }

    awaitable<void> answerFailure(const AttemptReport& last, std::optional<KeptResponse> kept,
                                  const upstream::Upstream& upstream, int attempts) {
        attempts_so_far_ = attempts;
        http::Response response;
        if (kept) {  // an upstream status beats a gateway-made one (section 4.7)
            response.result(kept->status);
            if (!kept->content_type.empty()) {
                response.set(bhttp::field::content_type, kept->content_type);
            }
            response.body() = std::move(kept->body);
        } else {
            bool timeout = last.outcome.failure == Failure::Timeout;
            response =
                http::jsonErrorResponse(timeout ? 504 : 502,
                                        "all " + std::to_string(attempts) +
                                            " upstream attempt(s) failed; last: " + last.detail,
                                        timeout ? "timeout_error" : "upstream_error",
                                        timeout ? "upstream_timeout" : "upstream_unavailable");
        }
        addGatewayHeaders(response, upstream.id());
        response.prepare_payload();
        co_await sink_.send(std::move(response));
    }

    const AiProxyRoute& route_;
    const ForwardPath& forward_;
    http::ClientRequest& request_;
    http::ResponseSink& sink_;
    WorkerServices& services_;
    std::string forwarded_head_;  // end-to-end headers + X-Forwarded-* + Content-Length + CRLF
    int attempts_so_far_ = 0;
    bool client_gone_ = false;
    std::string trace_;  // failed attempts, for X-AIProxy-Trace
    ProxyResult result_;
    UpstreamConnection* active_connection_ = nullptr;  // the attempt in progress, if connected
};

}  // namespace

std::string upstreamTarget(std::string_view base_path, const ForwardPath& forward,
                           std::string_view path, std::string_view query) {
    std::string target(base_path);
    if (forward.prefix) {
        target += '/';
        target += forward.rest;
    } else {
        target += path;
    }
    if (target.empty()) target = "/";
    if (!query.empty()) {
        target += '?';
        target += query;
    }
    return target;
}

std::string_view attemptLabelName(AttemptLabel label) {
    switch (label) {
        case AttemptLabel::Success:
            return "success";
        case AttemptLabel::ConnectError:
            return "connect_error";
        case AttemptLabel::Timeout:
            return "timeout";
        case AttemptLabel::Reset:
            return "reset";
        case AttemptLabel::Status4xx:
            return "status_4xx";
        case AttemptLabel::Status429:
            return "status_429";
        case AttemptLabel::Status5xx:
            return "status_5xx";
    }
    return "unknown";
}

awaitable<ProxyResult> proxyRequest(const AiProxyRoute& route, const ForwardPath& forward,
                                    http::ClientRequest& request, http::ResponseSink& sink,
                                    WorkerServices& services) {
    ProxyCall call{route, forward, request, sink, services};
    co_await call.run();
    co_return std::move(call.result());
}

}  // namespace aiproxy::ai
