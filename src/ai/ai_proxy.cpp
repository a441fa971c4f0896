#include "aiproxy/ai/ai_proxy.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/ai/provider.hpp"
#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/ai/sse_framer.hpp"
#include "aiproxy/ai/stream_preamble.hpp"
#include "aiproxy/ai/stream_usage_filter.hpp"
#include "aiproxy/ai/usage.hpp"
#include "aiproxy/common/ascii.hpp"
#include "aiproxy/config/provider_defaults.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "aiproxy/http/json_error.hpp"
#include "aiproxy/upstream/attempt_guard.hpp"
#include "aiproxy/upstream/chash_key.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

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
// A plain (non-stream) JSON answer is copied up to this size to read its usage.
constexpr std::size_t kMaxUsageCopyBytes = 4 * 1024 * 1024;

using UpstreamParser = bhttp::response_parser<bhttp::buffer_body>;

// A retryable answer kept in case every later attempt fails without one (section 4.7).
struct KeptResponse {
    unsigned status = 0;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;  // end-to-end: Retry-After, quotas
    std::string body;
    Translation translation = Translation::None;  // the client speaks another API
};

// The request as one upstream gets it: shaped for its provider (credentials, options,
// model_map, translation), serialized once per upstream and replayed per attempt.
struct PreparedRequest {
    UpstreamRequestPlan plan;
    std::optional<std::string> body;  // nullopt: the client's body as it came
    std::string fields;               // end-to-end + X-Forwarded-* + Content-Length + CRLF
    bool hide_usage_chunk = false;    // the gateway added include_usage; the client did not ask
    bool upstream_anthropic = false;
    std::optional<ShapeError> error;
};

// What the relay does to an upstream body on its way to the client, and the usage it reads.
class BodyProcessor {
public:
    enum class Mode {
        Raw,        // bytes as they come; a bounded copy of JSON bodies for their usage
        SideParse,  // event stream relayed as is; events framed on the side for usage
        Filter,     // OpenAI chat stream: the usage-only chunk may be removed
        Translate,  // event stream converted to the client's API
    };

    BodyProcessor(Mode mode, bool anthropic_body, bool hide_usage_chunk,
                  std::unique_ptr<StreamTranslator> translator)
        : mode_(mode),
          anthropic_body_(anthropic_body),
          filter_(hide_usage_chunk ? StreamUsageFilter::Mode::HideUsageChunk
                                   : StreamUsageFilter::Mode::PassThrough),
          translator_(std::move(translator)) {}

    // The bytes to send for this upstream chunk; may be empty (then send nothing).
    std::string_view feed(std::string_view chunk) {
        switch (mode_) {
            case Mode::Raw:
                if (copy_ && copied_.size() + chunk.size() <= kMaxUsageCopyBytes) {
                    copied_.append(chunk);
                } else {
                    copy_ = false;
                }
                return chunk;
            case Mode::SideParse:
                frame(chunk);
                return chunk;
            case Mode::Filter:
                return filter_.feed(chunk);
            case Mode::Translate:
                out_.clear();
                frame(chunk);
                return out_;
        }
        return chunk;
    }

    // The upstream body ended cleanly: what is left to send.
    std::string_view finish() {
        if (mode_ == Mode::Filter) return filter_.finish();
        if (mode_ == Mode::Translate) {
            out_.clear();
            translator_->onUpstreamEnd(out_);
            return out_;
        }
        return {};
    }

    void setCopy(bool copy) { copy_ = copy; }

    Usage usage() const {
        switch (mode_) {
            case Mode::Raw:
                if (!copy_ || copied_.empty()) return {};
                return anthropic_body_ ? usageFromAnthropicBody(copied_)
                                       : usageFromOpenAiBody(copied_);
            case Mode::Filter:
                return filter_.usage().usage;
            case Mode::SideParse:
            case Mode::Translate:
                return accumulator_.result().usage;
        }
        return {};
    }

private:
    void frame(std::string_view chunk) {
        events_.clear();
        framer_.feed(chunk, events_);
        for (auto& event : events_) {
            // Anthropic-compatible servers may omit "event:" lines; the name is also the data's
            // "type", which the accounting needs to tell message_start from message_delta.
            if (anthropic_body_ && (event.event.empty() || event.event == "message")) {
                auto data = nlohmann::json::parse(event.data, nullptr, false);
                if (data.is_object() && data.contains("type") && data["type"].is_string()) {
                    event.event = data["type"].get<std::string>();
                }
            }
            accumulator_.add(event);
            if (translator_) translator_->onEvent(event, out_);
        }
    }

    Mode mode_;
    bool anthropic_body_;
    bool copy_ = false;
    std::string copied_;
    SseFramer framer_;
    std::vector<SseEvent> events_;
    StreamUsageAccumulator accumulator_;
    StreamUsageFilter filter_;
    std::unique_ptr<StreamTranslator> translator_;
    std::string out_;
};

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct AttemptReport {
    AttemptOutcome outcome;
    std::string detail;          // why the attempt failed, for logs and the final error
    bool committed = false;      // the client has seen bytes of this attempt's response
    bool reusable = false;       // the connection is at a message boundary and may be pooled
    bool stale = false;          // a pooled connection died before any response byte
    bool client_cancel = false;  // the client left before the commit point: not the node's fault
    std::optional<KeptResponse> kept;
    unsigned status = 0;      // the upstream's status, when a response header arrived
    std::string retry_after;  // its Retry-After header, if any
    std::optional<double> time_to_first_token;  // seconds from sending to the first body byte
    StreamOutcome stream = StreamOutcome::None;
};

AttemptLabel labelOf(const AttemptReport& report) {
    if (report.client_cancel) return AttemptLabel::ClientCancel;
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
        rest_ = forward_.prefix ? forward_.rest : std::string_view(request_.path);
        if (!forward_.prefix && !rest_.empty() && rest_.front() == '/') rest_.remove_prefix(1);
        client_api_ = classifyClientApi(rest_);
        if (auto model = findRequestModel(request_.message.body())) result_.request_model = *model;
    }

    awaitable<void> run() {
        // Held until the request ends: a snapshot published meanwhile may drop them.
        primary_balancer_ = services_.balancers.share(*route_.primary_set);
        AttemptPlan::Pool primary{.set = route_.primary_set,
                                  .balancer = primary_balancer_.get(),
                                  .hash_key = hashKey(*route_.primary_set)};
        std::optional<AttemptPlan::Pool> fallback;
        if (route_.fallback_set) {
            fallback_balancer_ = services_.balancers.share(*route_.fallback_set);
            fallback = AttemptPlan::Pool{.set = route_.fallback_set,
                                         .balancer = fallback_balancer_.get(),
                                         .hash_key = hashKey(*route_.fallback_set)};
        }
        AttemptPlan plan{{.retry = route_.config.retry,
                          .retry_on = route_.config.retry_on,
                          .retry_failures = route_.retry_failures,
                          .only_within = route_.retry_only_within},
                         std::move(primary),
                         std::move(fallback)};
        AttemptReport last;
        std::optional<KeptResponse> kept;
        const upstream::Upstream* last_upstream = route_.upstreams.front().get();
        sink_.watchForClose([this] {
            client_gone_ = true;
            if (active_connection_) active_connection_->tcp().cancel();
        });
        bool fell_back = false;
        while (auto target = plan.next()) {
            std::size_t slot = slotOf(*target);
            last_upstream = target->upstream;
            result_.upstream_id = &target->upstream->id();
            result_.upstream_slot = slot;
            if (plan.attempts() > 1 && slot < route_.metrics.retries.size()) {
                count(route_.metrics.retries[slot]);
            }
            if (target->fallback && !fell_back) {
                fell_back = true;
                count(route_.metrics.fallbacks);
            }
            if (target->notes.fail_open_started) {
                log().warn(
                    "{}: every node is ejected or unhealthy; sending to them anyway until one "
                    "recovers",
                    target->set->key);
            }
            const PreparedRequest& prepared = prepare(*target->upstream, slot);
            if (prepared.error) {
                sink_.stopWatching();
                co_await answerShapeError(*prepared.error, *target->upstream);
                co_return;
            }
            auto started = Clock::now();
            // Held through the relay: the node counts the attempt in flight until it ends.
            guard_ = upstream::AttemptGuard{*target->set->runtime, target->member,
                                            target->notes.trial, started};
            last = co_await attempt(*target, plan);
            last.outcome.elapsed =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
            // A client that leaves is never the node's failure: no health, trial or latency
            // feedback (ARCHITECTURE.md section 6).
            if (client_gone_ && !last.committed) last.client_cancel = true;
            if (!last.client_cancel) reportFailure(last);
            recordAttempt(*target, last, started);
            guard_.release();
            if (last.committed) {
                sink_.stopWatching();
                account(prepared);  // a stream cut short by its client still used tokens
                if (client_gone_) sink_.abort();
                co_return;
            }
            if (client_gone_) {
                log().debug(
                    "request {}: client closed the connection; upstream request "
                    "cancelled",
                    request_.request_id);
                sink_.abort();
                co_return;
            }
            if (auto left_out = admitFailureLine(*target)) {
                const auto& node = target->upstream->nodes()[target->node];
                log().warn("request {}: attempt {} to {} {} failed: {} ({}){}", request_.request_id,
                           plan.attempts(), target->upstream->id(), node.address,
                           attemptLabelName(labelOf(last)), last.detail, suppressedNote(*left_out));
            }
            if (last.kept) kept = std::move(last.kept);
            if (plan.record(last.outcome) == Verdict::Done) break;
        }
        sink_.stopWatching();
        co_await answerFailure(last, std::move(kept), *last_upstream, plan.attempts());
    }

    ProxyResult& result() { return result_; }

private:
    // ai-proxy: 0 primary, 1 fallback; ai-proxy-multi: the instance's index.
    std::size_t slotOf(const AttemptTarget& target) const {
        if (route_.multi) return target.member;
        return target.fallback ? 1 : 0;
    }

    // The consistent-hash key of this request for a chash set; empty for other algorithms.
    std::string hashKey(const upstream::BalancedSet& set) const {
        if (set.balancing.type != "chash") return {};
        const auto& message = request_.message;
        upstream::RequestFacts facts{
            .remote_addr = request_.clientAddress(),
            .uri = request_.path,
            .query = request_.query,
            .header = [&message](std::string_view name) { return message[name]; },
            .consumer = result_.consumer,
        };
        return upstream::chashKey(set.balancing, facts);
    }

    // The upstream's response is read whole: the node is no longer busy with this request (so
    // least_conn sees it free before the client has the last bytes), and the client may send
    // its next request, which must not wake the close watch.
    void responseRead() {
        guard_.release();
        sink_.stopWatching();
    }

    spdlog::logger& log() const {
        return services_.log ? *services_.log : *spdlog::default_logger_raw();
    }

    // Whether a failure line for this node is logged now (see LogThrottle); a line left out
    // is counted in aiproxy_log_lines_suppressed_total.
    std::optional<std::uint64_t> admitFailureLine(const AttemptTarget& target) {
        auto verdict = target.set->runtime->node(target.member).failureLog().admit(Clock::now());
        if (!verdict) count(metricsOf().log_suppressed);
        return verdict;
    }

    static std::string suppressedNote(std::uint64_t left_out) {
        if (left_out == 0) return {};
        return " (" + std::to_string(left_out) + " similar line(s) for this node left out)";
    }

    // Failures without a usable answer count against the node's health; answers were
    // reported when they arrived (see exchange()).
    void reportFailure(const AttemptReport& report) {
        switch (report.outcome.failure) {
            case Failure::Connect:
            case Failure::Reset:
                guard_.failed(upstream::FailureKind::Tcp, report.detail);
                break;
            case Failure::Timeout:
                guard_.failed(upstream::FailureKind::Timeout, report.detail);
                break;
            case Failure::None:
            case Failure::Status:
                break;
        }
    }

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
        std::size_t slot = slotOf(target);
        const auto* upstream_metrics =
            slot < route_.metrics.upstreams.size() ? route_.metrics.upstreams[slot] : nullptr;
        if (upstream_metrics && target.node < upstream_metrics->attempts.size()) {
            count(upstream_metrics->attempts[target.node][static_cast<std::size_t>(label)]);
        }
    }

    // The request for one upstream, shaped once and reused by every attempt on it.
    const PreparedRequest& prepare(const upstream::Upstream& upstream, std::size_t slot) {
        if (prepared_.size() <= slot) prepared_.resize(slot + 1);
        if (prepared_[slot]) return *prepared_[slot];
        auto& prepared = prepared_[slot].emplace();
        const auto& client = request_.message;
        const auto& config = upstream.config();
        RequestFacts facts{.api = client_api_,
                           .rest = rest_,
                           .query = request_.query,
                           .body = client.body(),
                           .parsed = [this] { return request_.jsonBody(); }};
        ShapeResult shaped = shapeRequest(config, facts);
        if (!shaped.ok()) {
            prepared.error = shaped.error;
            return prepared;
        }
        prepared.plan = std::move(shaped.plan);
        const auto* provider = config::findProvider(config.provider);
        prepared.upstream_anthropic =
            provider && provider->wire_format == config::WireFormat::Anthropic;
        prepared.body = std::move(prepared.plan.body);
        // Usage of an OpenAI chat stream arrives only when asked for; ask, and hide the extra
        // chunk from a client that did not.
        if (prepared.plan.translation == Translation::None &&
            prepared.plan.upstream_api == ClientApi::OpenAiChat) {
            const std::string& sent = prepared.body ? *prepared.body : client.body();
            // Most requests do not stream: skip the copy and the parse for them.
            if (sent.find("\"stream\"") != std::string::npos) {
                std::string body = sent;
                const nlohmann::json* parsed = prepared.body ? nullptr : request_.jsonBody();
                if (requestStreamUsage(body, parsed).rewritten) {
                    prepared.body = std::move(body);
                    prepared.hide_usage_chunk = true;
                }
            }
        }

        std::string& fields = prepared.fields;
        fields.reserve(1024);
        // accept-encoding: every answer must arrive uncompressed, since usage (tokens, cost,
        // ai-rate-limiting) is read from it whatever the client accepts.
        std::vector<std::string> skip{"host",
                                      "content-length",
                                      "expect",
                                      "accept-encoding",
                                      "x-forwarded-for",
                                      "x-forwarded-proto",
                                      "x-forwarded-host",
                                      "x-request-id"};
        for (const auto& name : prepared.plan.drop_headers)
            skip.push_back(name);
        for (const auto& [name, value] : prepared.plan.set_headers)
            skip.push_back(name);
        if (prepared.body) skip.push_back("content-type");
        http::appendEndToEndFields(fields, client.base(), skip);
        bool encoding_set = false;
        for (const auto& [name, value] : prepared.plan.set_headers) {
            fields += name + ": " + value + "\r\n";
            encoding_set = encoding_set || common::equalsIgnoreCase(name, "accept-encoding");
        }
        if (!encoding_set) fields += "Accept-Encoding: identity\r\n";
        for (const auto& [name, value] : prepared.plan.default_headers) {
            if (client[name].empty()) fields += name + ": " + value + "\r\n";
        }
        if (prepared.body) fields += "Content-Type: application/json\r\n";
        fields += "X-Forwarded-For: ";
        fields += http::appendForwardedFor(
            http::combinedFieldValue(client.base(), "X-Forwarded-For"), request_.peer_address);
        fields +=
            request_.tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n";
        if (auto host = client[bhttp::field::host]; !host.empty()) {
            fields += "X-Forwarded-Host: ";
            fields += host;
            fields += "\r\n";
        }
        fields += "X-Request-Id: ";
        fields += request_.request_id;
        fields += "\r\n";
        std::size_t length = prepared.body ? prepared.body->size() : client.body().size();
        auto method = client.method();
        if (length > 0 || method == bhttp::verb::post || method == bhttp::verb::put ||
            method == bhttp::verb::patch) {
            fields += "Content-Length: ";
            fields += std::to_string(length);
            fields += "\r\n";
        }
        fields += "\r\n";
        return prepared;
    }

    // "METHOD target HTTP/1.1", Host, then the per-upstream part.
    std::string requestHead(const PreparedRequest& prepared, const upstream::Node& node) {
        const auto& client = request_.message;
        std::string head;
        head.reserve(prepared.fields.size() + 160);
        head += client.method_string();
        head += ' ';
        head += prepared.plan.target;
        head += " HTTP/1.1\r\nHost: ";
        head += route_.config.enable_upstream_host ? std::string_view(node.host_header)
                                                   : std::string_view(client[bhttp::field::host]);
        head += "\r\n";
        head += prepared.fields;
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
            if (client_gone_) {
                // Gone while we connected: the prompt is not sent, so it costs nothing.
                services_.pool.give(std::move(connection), upstream.config().keepalive_pool);
                co_return AttemptReport{.outcome = {.failure = Failure::Reset},
                                        .detail = "the client closed the connection",
                                        .client_cancel = true};
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

        const PreparedRequest& prepared = prepare(upstream, slotOf(target));
        std::string head = requestHead(prepared, node);
        const std::string& body = prepared.body ? *prepared.body : request_.message.body();
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
            if (status == 101) {
                // The client's Upgrade never reaches an upstream, so a switch is a broken
                // upstream; relaying it would hand the client a connection in another protocol.
                co_return AttemptReport{
                    .outcome = {.failure = Failure::Reset},
                    .detail =
                        "the upstream answered 101 Switching Protocols to a request "
                        "without Upgrade"};
            }
            if (status < 100 || status >= 200) break;
            if (informational >= kMaxInformationalResponses) {
                co_return AttemptReport{.outcome = {.failure = Failure::Reset},
                                        .detail = "too many informational responses"};
            }
        }
        auto& response = parser->get();
        const unsigned status = response.result_int();
        bool event_stream = response[bhttp::field::content_type].starts_with("text/event-stream");
        if (event_stream) parser->body_limit(boost::none);  // streams are bounded by time instead

        auto retry_after = response[bhttp::field::retry_after];
        auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent_at);
        if (plan.wouldRetry(static_cast<int>(status), elapsed)) {
            guard_.firstByte();
            guard_.responded(static_cast<int>(status), retry_after);
            auto kept = co_await keepRetryableAnswer(stream, connection, *parser, deadline);
            kept.status = status;
            kept.outcome.ttfb_seconds = secondsSince(sent_at);
            kept.outcome.retry_after = std::string(retry_after);
            if (kept.kept) kept.kept->translation = prepared.plan.translation;
            co_return kept;
        }
        if (prepared.plan.translation != Translation::None && !event_stream) {
            guard_.firstByte();
            guard_.responded(static_cast<int>(status), retry_after);
            co_return co_await relayTranslated(stream, connection, *parser, upstream, prepared,
                                               deadline, sent_at);
        }
        BodyProcessor::Mode mode = BodyProcessor::Mode::Raw;
        std::unique_ptr<StreamTranslator> translator;
        if (event_stream) {
            if (prepared.plan.translation != Translation::None) {
                mode = BodyProcessor::Mode::Translate;
                translator = makeStreamTranslator(
                    prepared.plan.translation, {.created = unixNow(),
                                                .include_usage = prepared.plan.client_include_usage,
                                                .fallback_model = prepared.plan.upstream_model});
            } else if (prepared.plan.upstream_api == ClientApi::OpenAiChat &&
                       !prepared.upstream_anthropic) {
                mode = BodyProcessor::Mode::Filter;
            } else {
                mode = BodyProcessor::Mode::SideParse;
            }
        }
        processor_.emplace(mode, prepared.upstream_anthropic, prepared.hide_usage_chunk,
                           std::move(translator));
        processor_->setCopy(!event_stream && status < 300 &&
                            response[bhttp::field::content_type].find("json") !=
                                std::string_view::npos);
        const bool rewrites =
            mode == BodyProcessor::Mode::Filter || mode == BodyProcessor::Mode::Translate;

        // Commit point: the first byte the client would see (or a complete empty body). Until
        // then the attempt can still fail over, so an upstream that says 200 and dies, or sends
        // only what the relay holds back (a partial event, a ping), is retried.
        std::array<char, kRelayBufferBytes> chunk;
        std::size_t got = 0;
        error_code body_ec;
        // A stream's preamble (a role-only chunk, message_start, pings) is held too: alone it
        // tells the client nothing, and sending it would make a retry impossible.
        std::string held;
        std::string_view first_out;
        while (!parser->is_done()) {
            std::tie(body_ec, got) =
                co_await readSome(stream, connection, *parser, chunk, deadline);
            if (body_ec) {
                co_return AttemptReport{
                    .outcome = {.failure = isTimeout(body_ec) ? Failure::Timeout : Failure::Reset},
                    .detail = "upstream failed before the first byte for the client: " +
                              body_ec.message(),
                    .status = status};
            }
            if (got == 0) continue;
            auto out = processor_->feed({chunk.data(), got});
            if (out.empty()) continue;
            if (!event_stream) {
                first_out = out;  // still valid: nothing is read before it is written
                break;
            }
            held.append(out);
            if (!onlyStreamPreamble(held) || held.size() >= kMaxPreambleBytes) {
                first_out = held;
                break;
            }
        }
        if (first_out.empty()) first_out = held;  // the body ended within its preamble

        // Committed: the node answered. A stream's health is judged by its start, not by how
        // long the client keeps it open.
        guard_.firstByte();
        guard_.responded(static_cast<int>(status), retry_after);
        auto client_header =
            clientHeader(response, upstream, event_stream, secondsSince(sent_at), prepared);
        sink_.begin(std::move(client_header),
                    rewrites ? std::nullopt : clientContentLength(*parser));
        AttemptReport report{
            .outcome = {.ttfb_seconds = secondsSince(sent_at)},
            .committed = true,
            .status = status,
            .time_to_first_token = secondsSince(sent_at),
            .stream = event_stream ? StreamOutcome::ClientCancel : StreamOutcome::None};
        // Counted while it runs; whatever way it ends, the guard takes it off again.
        StreamGauge active{event_stream ? route_.metrics.active_streams : nullptr,
                           services_.metrics_slot};
        // The client may send its next request as soon as it has this response; stop watching
        // before the last write, or its next request would wake the watch for nothing.
        if (parser->is_done()) responseRead();
        if (!first_out.empty()) {
            if (auto ec = co_await sink_.write(first_out.data(), first_out.size()); ec) {
                co_return report;
            }
        }
        // upstream timeout.read, when set, bounds the whole response; the route's timeout bounds
        // each gap between two chunks.
        const auto total_deadline =
            timeouts.read.count() > 0 ? sent_at + timeouts.read : Clock::time_point::max();
        while (!parser->is_done()) {
            auto idle_deadline = std::min(Clock::now() + route_.config.timeout, total_deadline);
            std::tie(body_ec, got) =
                co_await readSome(stream, connection, *parser, chunk, idle_deadline);
            if (body_ec) {
                if (!client_gone_) {
                    if (auto left_out = admitFailureLine(target)) {
                        log().warn("request {}: {} {} failed after the response started: {}{}",
                                   request_.request_id, upstream.id(), node.address,
                                   body_ec.message(), suppressedNote(*left_out));
                    }
                }
                sink_.abort();
                if (event_stream && !client_gone_) report.stream = StreamOutcome::UpstreamCut;
                co_return report;
            }
            if (parser->is_done()) responseRead();
            if (got > 0) {
                auto out = processor_->feed({chunk.data(), got});
                if (out.empty()) continue;
                if (auto ec = co_await sink_.write(out.data(), out.size()); ec) {
                    co_return report;  // the client went away: drop the upstream connection
                }
            }
        }
        if (auto tail = processor_->finish(); !tail.empty()) {
            if (auto ec = co_await sink_.write(tail.data(), tail.size()); ec) co_return report;
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
        // Retry-After and the x-ratelimit-* family tell the client when to come back.
        for (const auto& field : response) {
            auto name = field.name_string();
            if (http::isHopByHop(name) || field.name() == bhttp::field::content_length ||
                field.name() == bhttp::field::content_type ||
                field.name() == bhttp::field::transfer_encoding) {
                continue;
            }
            kept.headers.emplace_back(std::string(name), std::string(field.value()));
        }
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
                                          double ttft_seconds, const PreparedRequest& prepared) {
        bhttp::response_header<> header = upstream_header;
        http::removeHopByHop(header);
        header.erase(bhttp::field::content_length);
        if (event_stream) header.set("X-Accel-Buffering", "no");
        if (route_.expose_upstream_headers && !prepared.plan.upstream_model.empty()) {
            header.set("X-AIProxy-Model", prepared.plan.upstream_model);
        }
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
        if (status == 204) return 0;  // the sink writes no Content-Length for it
        if (status == 304) {
            // The upstream's, if it sent one: it describes the representation, not a body.
            std::uint64_t length = 0;
            auto field = parser.get()[bhttp::field::content_length];
            auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), length);
            if (field.empty() || ec != std::errc{} || end != field.data() + field.size()) {
                return std::nullopt;
            }
            return length;
        }
        if (auto length = parser.content_length()) return *length;
        return std::nullopt;
    }

    awaitable<void> answerFailure(const AttemptReport& last, std::optional<KeptResponse> kept,
                                  const upstream::Upstream& upstream, int attempts) {
        attempts_so_far_ = attempts;
        http::Response response;
        if (kept) {  // an upstream status beats a gateway-made one (section 4.7)
            response.result(kept->status);
            bool translated = kept->translation != Translation::None;
            if (translated) {
                kept->body = translateErrorBody(kept->translation, kept->status, kept->body);
                kept->content_type = "application/json";
            }
            for (const auto& [name, value] : kept->headers) {
                if (translated && common::equalsIgnoreCase(name, "content-encoding")) continue;
                response.insert(name, value);
            }
            if (!kept->content_type.empty()) {
                response.set(bhttp::field::content_type, kept->content_type);
            }
            response.body() = std::move(kept->body);
        } else if (client_api_ == ClientApi::AnthropicMessages) {
            bool timeout = last.outcome.failure == Failure::Timeout;
            response.result(timeout ? 504 : 502);
            response.set(bhttp::field::content_type, "application/json");
            response.body() = anthropicErrorBody(
                timeout ? 504 : 502, "all " + std::to_string(attempts) +
                                         " upstream attempt(s) failed; last: " + last.detail);
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

    awaitable<void> answerShapeError(const ShapeError& error, const upstream::Upstream& upstream) {
        http::Response response;
        if (client_api_ == ClientApi::AnthropicMessages) {
            response.result(error.status);
            response.set(bhttp::field::content_type, "application/json");
            response.body() = anthropicErrorBody(error.status, error.message);
        } else {
            response = http::jsonErrorResponse(error.status, error.message, "invalid_request_error",
                                               error.code);
        }
        addGatewayHeaders(response, upstream.id());
        response.prepare_payload();
        co_await sink_.send(std::move(response));
    }

    // A plain answer in another API: read it whole (bounded), convert it, send it. Nothing
    // reaches the client before the whole answer is in, so a failure here can still fail over.
    template <class Stream>
    awaitable<AttemptReport> relayTranslated(Stream& stream, UpstreamConnection& connection,
                                             UpstreamParser& parser,
                                             const upstream::Upstream& upstream,
                                             const PreparedRequest& prepared,
                                             Clock::time_point deadline,
                                             Clock::time_point sent_at) {
        auto& response = parser.get();
        const unsigned status = response.result_int();
        std::string body;
        std::array<char, kRelayBufferBytes> chunk;
        while (!parser.is_done()) {
            auto [ec, got] = co_await readSome(stream, connection, parser, chunk, deadline);
            if (ec) {
                co_return AttemptReport{
                    .outcome = {.failure = isTimeout(ec) ? Failure::Timeout : Failure::Reset},
                    .detail = "reading the response failed: " + ec.message(),
                    .status = status};
            }
            body.append(chunk.data(), got);
        }
        double ttft = secondsSince(sent_at);
        std::string translated;
        if (status >= 200 && status < 300) {
            Usage usage = prepared.upstream_anthropic ? usageFromAnthropicBody(body)
                                                      : usageFromOpenAiBody(body);
            translated_usage_ = usage;
            auto converted = translateResponseBody(prepared.plan.translation, body, unixNow());
            if (!converted.ok()) {
                co_return AttemptReport{
                    .outcome = {.failure = Failure::Reset},
                    .detail = "the upstream's answer could not be translated: " + converted.error,
                    .reusable = response.keep_alive(),
                    .status = status};
            }
            translated = std::move(converted.body);
        } else {
            translated = translateErrorBody(prepared.plan.translation, status, body);
        }
        bhttp::response_header<> header = clientHeader(response, upstream, false, ttft, prepared);
        header.set(bhttp::field::content_type, "application/json");
        header.erase(bhttp::field::content_encoding);
        sink_.stopWatching();
        sink_.begin(std::move(header), translated.size());
        AttemptReport report{.committed = true, .status = status, .time_to_first_token = ttft};
        if (!translated.empty()) {
            if (auto ec = co_await sink_.write(translated.data(), translated.size()); ec) {
                co_return report;
            }
        }
        if (auto ec = co_await sink_.finish(); ec) co_return report;
        report.reusable = response.keep_alive();
        co_return report;
    }

    // Usage, served model and cost of the committed attempt, for metrics and the access log.
    void account(const PreparedRequest& prepared) {
        Usage usage;
        if (translated_usage_) {
            usage = *translated_usage_;
        } else if (processor_) {
            usage = processor_->usage();
        }
        result_.served_model = !usage.model.empty() ? usage.model : prepared.plan.upstream_model;
        result_.prompt_tokens = usage.prompt_tokens;
        result_.completion_tokens = usage.completion_tokens;
        if (route_.prices && (usage.prompt_tokens || usage.completion_tokens)) {
            // One price lookup: the metrics label and the cost both use the matched name.
            result_.priced_model = route_.prices->findKey(result_.served_model);
            if (result_.priced_model) {
                result_.cost_usd = costUsd(*route_.prices, *result_.priced_model, usage);
            }
        }
    }

    const AiProxyRoute& route_;
    const ForwardPath& forward_;
    http::ClientRequest& request_;
    http::ResponseSink& sink_;
    WorkerServices& services_;
    std::string_view rest_;  // the client's API path (what '*' matched, or the whole path)
    ClientApi client_api_ = ClientApi::OpenAiOther;
    std::vector<std::optional<PreparedRequest>> prepared_;  // by upstream slot
    std::shared_ptr<upstream::Balancer> primary_balancer_;  // kept for the request's life
    std::shared_ptr<upstream::Balancer> fallback_balancer_;
    std::optional<BodyProcessor> processor_;  // of the attempt that committed
    std::optional<Usage> translated_usage_;   // of a translated plain answer
    upstream::AttemptGuard guard_;            // the attempt in progress
    int attempts_so_far_ = 0;
    bool client_gone_ = false;
    std::string trace_;  // failed attempts, for X-AIProxy-Trace
    ProxyResult result_;
    UpstreamConnection* active_connection_ = nullptr;  // the attempt in progress, if connected
};

}  // namespace

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
        case AttemptLabel::ClientCancel:
            return "client_cancel";
    }
    return "unknown";
}

awaitable<ProxyResult> proxyRequest(const AiProxyRoute& route, const ForwardPath& forward,
                                    http::ClientRequest& request, http::ResponseSink& sink,
                                    WorkerServices& services, std::string_view consumer) {
    ProxyCall call{route, forward, request, sink, services};
    call.result().consumer = std::string(consumer);
    co_await call.run();
    co_return std::move(call.result());
}

}  // namespace aiproxy::ai
