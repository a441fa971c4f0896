// The relay of one attempt's answer: keep a retryable one, translate or rewrite a plain one
// whole, or relay the body as it arrives, holding back what comes before the commit point.

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cmath>

#include "aiproxy/ai/response_rewrite.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"
#include "proxy_call.hpp"

namespace aiproxy::ai {

// GCC 12 inlines Asio's coroutine frame allocation (aligned_alloc) and its sized operator delete
// into these coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {

namespace bhttp = http::bhttp;

constexpr std::size_t kMaxKeptErrorBody = 64 * 1024;

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
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

BodyProcessor::Mode modeFor(bool event_stream, const PreparedRequest& prepared) {
    if (!event_stream) return BodyProcessor::Mode::Raw;
    if (prepared.plan.translation != Translation::None) return BodyProcessor::Mode::Translate;
    if (prepared.plan.upstream_api == ClientApi::OpenAiChat && !prepared.upstream_anthropic) {
        return BodyProcessor::Mode::Filter;
    }
    return BodyProcessor::Mode::SideParse;
}

}  // namespace

http::awaitable<AttemptReport> ProxyCall::relay(upstream::HttpExchange& exchange,
                                                const AttemptTarget& target,
                                                const AttemptPlan& plan,
                                                const PreparedRequest& prepared,
                                                Clock::time_point deadline) {
    const auto& upstream = *target.upstream;
    const auto& node = upstream.nodes()[target.node];
    const auto& response = exchange.response();
    const unsigned status = response.result_int();
    const auto sent_at = exchange.sentAt();
    bool event_stream = response[bhttp::field::content_type].starts_with("text/event-stream");
    if (event_stream) exchange.unlimitBody();  // streams are bounded by time instead

    processor_.reset();  // an earlier attempt's, not committed
    whole_usage_.reset();
    auto retry_after = response[bhttp::field::retry_after];
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent_at);
    if (plan.wouldRetry(static_cast<int>(status), elapsed)) {
        guard_.firstByte();
        guard_.responded(static_cast<int>(status), retry_after);
        auto kept = co_await keepRetryableAnswer(exchange, deadline);
        kept.status = status;
        kept.outcome.ttfb_seconds = secondsSince(sent_at);
        kept.outcome.retry_after = std::string(retry_after);
        if (kept.kept) kept.kept->translation = prepared.plan.translation;
        co_return kept;
    }
    if (!event_stream &&
        (prepared.plan.translation != Translation::None || rewritesWholeAnswer(response))) {
        latencyAtCommit();
        guard_.responded(static_cast<int>(status), retry_after);
        co_return co_await relayWhole(exchange, upstream, prepared, deadline);
    }
    auto mode = modeFor(event_stream, prepared);
    std::unique_ptr<StreamTranslator> translator;
    if (mode == BodyProcessor::Mode::Translate) {
        translator = makeStreamTranslator(prepared.plan.translation,
                                          {.created = unixNow(),
                                           .include_usage = prepared.plan.client_include_usage,
                                           .fallback_model = prepared.plan.upstream_model});
    }
    processor_.emplace(mode, prepared.upstream_anthropic, prepared.hide_usage_chunk,
                       std::move(translator));
    processor_->countText(context_.outcome.count_relayed_text);
    processor_->setCopy(!event_stream && status < 300 &&
                        response[bhttp::field::content_type].find("json") !=
                            std::string_view::npos);
    if (event_stream && route_.response_rewrite && rewritableApi(client_api_)) {
        processor_->setRewriter(
            std::make_unique<SseContentRewriter>(*route_.response_rewrite, client_api_));
    }
    const bool rewrites = mode == BodyProcessor::Mode::Filter ||
                          mode == BodyProcessor::Mode::Translate || processor_->rewrites();

    // Until the commit point the attempt can still fail over, so an upstream that says 200 and
    // dies, or sends only what the relay holds back (a partial event, a stream's preamble), is
    // retried (failure_rules.hpp). A read that ran while held text was flushed (nextStep) may
    // have ended the body: it is still to be relayed.
    std::string held;
    std::size_t held_verified = 0;  // complete preamble events already checked
    std::string_view first_out;
    while (read_running_ || !exchange.done()) {
        BodyStep step;
        if (processor_->rewrites()) {
            step = co_await nextStep(exchange, deadline);
        } else {
            step.read = co_await exchange.read(deadline);
        }
        const auto& read = step.read;
        if (read.error) {
            co_return AttemptReport{
                .outcome = {.failure = *bodyFailure(false, upstream::isTimeout(read.error))},
                .detail =
                    "upstream failed before the first byte for the client: " + read.error.message(),
                .status = status};
        }
        if (!step.flushed && read.size == 0) continue;
        auto out = step.flushed ? processor_->flushHeld()
                                : processor_->feed({exchange.chunk(), read.size});
        if (out.empty()) continue;
        std::string_view candidate = out;  // still valid: nothing is read before it is written
        if (event_stream) {
            held.append(out);
            candidate = held;
        }
        std::string upstream_error;
        auto point = commitPoint(
            event_stream, candidate, held_verified,
            {.enabled = route_.config.hold_preamble, .max_bytes = route_.config.preamble_max_bytes},
            &upstream_error);
        if (point == CommitPoint::UpstreamError) {
            // Nothing reached the client: fail over as if the upstream had answered 5xx.
            co_return AttemptReport{
                .outcome = {.failure = Failure::StreamError, .status = static_cast<int>(status)},
                .detail = "upstream sent an error event before any content: " +
                          (upstream_error.empty() ? std::string("(no message)") : upstream_error),
                .status = status};
        }
        if (point == CommitPoint::Commit) {
            first_out = candidate;
            break;
        }
    }
    if (first_out.empty()) first_out = held;  // the body ended within its preamble

    // Committed: the node answered. A stream's health is judged by its start, not by how long
    // the client keeps it open.
    latencyAtCommit();
    const auto committed_at = Clock::now();
    // total and tpot: sampled when the upstream's last byte is in, before it is written on.
    // (usage() may parse a whole plain answer: only tpot needs it here.)
    auto sampleIfComplete = [&] {
        if (exchange.done() && latency_strategy_ != LatencyStrategy::Ttft) {
            latencyAtEnd(sent_at, event_stream ? committed_at : sent_at, processor_->usage());
        }
    };
    sampleIfComplete();
    guard_.responded(static_cast<int>(status), retry_after);
    sink_.begin(clientHeader(response, upstream, event_stream, secondsSince(sent_at), prepared),
                rewrites ? std::nullopt : exchange.clientContentLength());
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
    if (exchange.done()) responseRead();
    if (!first_out.empty()) {
        if (auto ec = co_await sink_.write(first_out.data(), first_out.size(), exchange.done());
            ec) {
            if (read_running_) co_await settleRead(exchange);
            co_return report;
        }
    }
    // upstream timeout.read, when set, bounds the whole response; the route's timeout bounds
    // each gap between two chunks.
    const auto& timeouts = upstream.config().timeout;
    const auto total_deadline =
        timeouts.read.count() > 0 ? sent_at + timeouts.read : Clock::time_point::max();
    while (read_running_ || !exchange.done()) {
        auto idle_deadline = std::min(Clock::now() + route_.config.timeout, total_deadline);
        BodyStep step;
        if (processor_->rewrites()) {
            step = co_await nextStep(exchange, idle_deadline);
        } else {
            step.read = co_await exchange.read(idle_deadline);
        }
        const auto& read = step.read;
        if (read.error) {
            // After the commit point nothing is retried (bodyFailure): the response is cut.
            if (!client_gone_) {
                if (auto left_out = admitFailureLine(target)) {
                    log().warn("request {}: {} {} failed after the response started: {}{}",
                               request_.request_id, upstream.id(), node.address,
                               read.error.message(), suppressedNote(*left_out));
                }
            }
            sink_.abort();
            if (event_stream && !client_gone_) report.stream = StreamOutcome::UpstreamCut;
            co_return report;
        }
        std::string_view out;
        if (step.flushed || read.size > 0) {
            out = step.flushed ? processor_->flushHeld()
                               : processor_->feed({exchange.chunk(), read.size});
        }
        if (exchange.done()) {
            sampleIfComplete();  // before the guard goes: with the usage of the last read
            responseRead();
        }
        if (out.empty()) continue;
        if (auto ec = co_await sink_.write(out.data(), out.size(), exchange.done()); ec) {
            if (read_running_) co_await settleRead(exchange);
            co_return report;  // the client went away: drop the upstream connection
        }
    }
    if (auto tail = processor_->finish(); !tail.empty()) {
        if (auto ec = co_await sink_.write(tail.data(), tail.size()); ec) co_return report;
    }
    if (auto ec = co_await sink_.finish(); ec) co_return report;
    exchange.finish();
    if (event_stream) report.stream = StreamOutcome::Complete;
    co_return report;
}

// The upstream's response is read whole: the node is no longer busy with this request (so
// least_conn sees it free before the client has the last bytes), and the client may send its
// next request, which must not wake the close watch.
void ProxyCall::responseRead() {
    guard_.release();
    sink_.stopWatching();
}

// Reads a retryable answer's body (bounded) so it can be returned if nothing better comes.
http::awaitable<AttemptReport> ProxyCall::keepRetryableAnswer(upstream::HttpExchange& exchange,
                                                              Clock::time_point deadline) {
    const auto& response = exchange.response();
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
    while (!exchange.done() && kept.body.size() < kMaxKeptErrorBody) {
        auto read = co_await exchange.read(deadline);
        if (read.error) break;
        kept.body.append(exchange.chunk(), read.size);
    }
    if (kept.body.size() > kMaxKeptErrorBody) kept.body.resize(kMaxKeptErrorBody);
    exchange.finish();  // pooled again only when the whole answer was read
    co_return AttemptReport{
        .outcome = {.failure = Failure::Status, .status = static_cast<int>(status)},
        .detail = "status " + std::to_string(status),
        .kept = std::move(kept)};
}

// A plain answer that changes on its way: translated to the client's API, or its text
// rewritten (ai-response-rewrite), or both. Read it whole (bounded by the body limit), change it,
// send it with its new length. Nothing reaches the client before the whole answer is in, so a
// failure here can still fail over. Usage comes from the upstream's own body.
http::awaitable<AttemptReport> ProxyCall::relayWhole(upstream::HttpExchange& exchange,
                                                     const upstream::Upstream& upstream,
                                                     const PreparedRequest& prepared,
                                                     Clock::time_point deadline) {
    const auto& response = exchange.response();
    const unsigned status = response.result_int();
    const bool translated = prepared.plan.translation != Translation::None;
    std::string body;
    while (!exchange.done()) {
        auto read = co_await exchange.read(deadline);
        if (read.error) {
            co_return AttemptReport{
                .outcome = {.failure = *bodyFailure(false, upstream::isTimeout(read.error))},
                .detail = "reading the response failed: " + read.error.message(),
                .status = status};
        }
        body.append(exchange.chunk(), read.size);
    }
    double ttft = secondsSince(exchange.sentAt());
    bool answered = status >= 200 && status < 300;
    std::string answer;
    std::size_t redactions = 0;
    if (status >= 200 && status < 300) {
        whole_usage_ =
            prepared.upstream_anthropic ? usageFromAnthropicBody(body) : usageFromOpenAiBody(body);
        if (translated) {
            auto converted = translateResponseBody(prepared.plan.translation, body, unixNow());
            if (!converted.ok()) {
                exchange.finish();
                co_return AttemptReport{
                    .outcome = {.failure = Failure::Reset},
                    .detail = "the upstream's answer could not be translated: " + converted.error,
                    .status = status};
            }
            answer = std::move(converted.body);
        } else {
            answer = std::move(body);
        }
        if (route_.response_rewrite && rewritableApi(client_api_)) {
            auto rewritten =
                rewriteAnswerBody(*route_.response_rewrite, client_api_, answer, redactions);
            if (rewritten) answer = std::move(*rewritten);
        }
    } else if (translated) {
        answer = translateErrorBody(prepared.plan.translation, status, body);
    } else {
        answer = std::move(body);
    }
    auto header = clientHeader(response, upstream, false, ttft, prepared);
    if (translated) {
        header.set(bhttp::field::content_type, "application/json");
        header.erase(bhttp::field::content_encoding);
    }
    if (answered && whole_usage_) latencyAtEnd(exchange.sentAt(), exchange.sentAt(), *whole_usage_);
    sink_.stopWatching();
    sink_.begin(std::move(header), answer.size());
    redactions_ += redactions;
    AttemptReport report{.committed = true, .status = status, .time_to_first_token = ttft};
    if (!answer.empty()) {
        if (auto ec = co_await sink_.write(answer.data(), answer.size()); ec) co_return report;
    }
    if (auto ec = co_await sink_.finish(); ec) co_return report;
    exchange.finish();
    co_return report;
}

// ewma's latency sample, by the upstream's latency_strategy: ttft at the commit point (the
// first content byte), total and tpot once the answer is complete (tpot: the time after the
// first content, or after sending for a plain answer, per output token; no sample without a
// token count, rather than one in another unit).
void ProxyCall::latencyAtCommit() {
    if (latency_strategy_ == LatencyStrategy::Ttft) guard_.firstByte();
}

void ProxyCall::latencyAtEnd(Clock::time_point sent_at, Clock::time_point tokens_from,
                             const Usage& usage) {
    auto now = Clock::now();
    switch (latency_strategy_) {
        case LatencyStrategy::Ttft:
            break;
        case LatencyStrategy::Total:
            guard_.sample(now - sent_at, now);
            break;
        case LatencyStrategy::Tpot:
            if (usage.completion_tokens && *usage.completion_tokens > 0) {
                guard_.sample((now - tokens_from) / static_cast<long>(*usage.completion_tokens),
                              now);
            }
            break;
    }
}

// ai-response-rewrite changes a plain answer of the client's chat API: a successful JSON body.
bool ProxyCall::rewritesWholeAnswer(const bhttp::response_header<>& response) const {
    if (!route_.response_rewrite || !rewritableApi(client_api_)) return false;
    const unsigned status = response.result_int();
    return status >= 200 && status < 300 && request_.message.method() != bhttp::verb::head &&
           response[bhttp::field::content_type].find("json") != std::string_view::npos;
}

// A stream with ai-response-rewrite: the next upstream read, unless the rewrite holds text and
// the upstream stays silent past max_holdback_ms; then the held text is due first (flushed),
// and the read goes on in the background for a later call to pick up. Reads are never
// cancelled for the timer: a cancelled read would end the upstream connection.
http::awaitable<BodyStep> ProxyCall::nextStep(upstream::HttpExchange& exchange,
                                              Clock::time_point deadline) {
    const bool holding = processor_->holding();
    if (!read_running_ && !holding) {
        BodyStep step{.read = co_await exchange.read(deadline)};
        last_read_at_ = Clock::now();
        co_return step;
    }
    if (!pause_timer_) pause_timer_.emplace(services_.executor);
    if (!read_running_) {
        read_running_ = true;
        read_result_.reset();
        http::net::co_spawn(services_.executor, readInBackground(exchange, deadline),
                            http::net::detached);
    }
    if (!read_result_) {
        pause_timer_->expires_at(holding ? last_read_at_ + route_.response_rewrite->max_holdback
                                         : Clock::time_point::max());
        co_await pause_timer_->async_wait(http::use_nothrow);
    }
    if (read_result_) {
        read_running_ = false;
        last_read_at_ = Clock::now();
        BodyStep step{.read = *read_result_};
        read_result_.reset();
        co_return step;
    }
    co_return BodyStep{.flushed = true};
}

http::awaitable<void> ProxyCall::readInBackground(upstream::HttpExchange& exchange,
                                                  Clock::time_point deadline) {
    read_result_ = co_await exchange.read(deadline);
    pause_timer_->cancel();
}

// The relay is leaving with a background read under way: it must end before the exchange does.
http::awaitable<void> ProxyCall::settleRead(upstream::HttpExchange& exchange) {
    exchange.cancel();
    while (!read_result_) {
        pause_timer_->expires_at(Clock::time_point::max());
        co_await pause_timer_->async_wait(http::use_nothrow);
    }
    read_result_.reset();
    read_running_ = false;
}

bhttp::response_header<> ProxyCall::clientHeader(const bhttp::response_header<>& upstream_header,
                                                 const upstream::Upstream& upstream,
                                                 bool event_stream, double ttft_seconds,
                                                 const PreparedRequest& prepared) {
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

#pragma GCC diagnostic pop

}  // namespace aiproxy::ai
