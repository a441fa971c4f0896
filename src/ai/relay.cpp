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

// Up to the commit point: until then the attempt can still fail over, so an upstream that says
// 200 and dies, or sends only what the relay holds back (a partial event, a stream's preamble),
// is retried (failure_rules.hpp). Nothing here touches the client or the request's state, so
// attempts can race through it (hedge_race.cpp).
http::awaitable<void> ProxyCall::relayUntilCommit(AttemptRun& run, const AttemptPlan& plan) {
    auto& exchange = *run.exchange;
    const auto& prepared = *run.prepared;
    const auto& response = exchange.response();
    const unsigned status = response.result_int();
    const auto sent_at = exchange.sentAt();
    run.event_stream = response[bhttp::field::content_type].starts_with("text/event-stream");
    if (run.event_stream) exchange.unlimitBody();  // streams are bounded by time instead

    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent_at);
    if (passesOverStatus(plan.isRetryableStatus(static_cast<int>(status)),
                         plan.wouldRetry(static_cast<int>(status), elapsed),
                         anotherInFlight(run))) {
        auto retry_after = response[bhttp::field::retry_after];
        run.guard.firstByte();
        run.guard.responded(static_cast<int>(status), retry_after);
        run.failure = co_await keepRetryableAnswer(run);
        run.failure.status = status;
        run.failure.outcome.ttfb_seconds = secondsSince(sent_at);
        run.failure.outcome.retry_after = std::string(retry_after);
        if (run.failure.kept) run.failure.kept->translation = prepared.plan.translation;
        run.state = PreCommit::Failed;
        co_return;
    }
    if (!run.event_stream &&
        (prepared.plan.translation != Translation::None || rewritesWholeAnswer(response))) {
        co_await readWhole(run);
        co_return;
    }
    auto mode = modeFor(run.event_stream, prepared);
    std::unique_ptr<StreamTranslator> translator;
    if (mode == BodyProcessor::Mode::Translate) {
        translator = makeStreamTranslator(prepared.plan.translation,
                                          {.created = unixNow(),
                                           .include_usage = prepared.plan.client_include_usage,
                                           .fallback_model = prepared.plan.upstream_model});
    }
    auto& processor = run.processor.emplace(mode, prepared.upstream_anthropic,
                                            prepared.hide_usage_chunk, std::move(translator));
    processor.countText(context_.outcome.count_relayed_text);
    processor.setCopy(!run.event_stream && status < 300 &&
                      response[bhttp::field::content_type].find("json") != std::string_view::npos);
    if (run.event_stream && route_.response_rewrite && rewritableApi(client_api_)) {
        processor.setRewriter(
            std::make_unique<SseContentRewriter>(*route_.response_rewrite, client_api_));
    }
    run.rewrites = mode == BodyProcessor::Mode::Filter || mode == BodyProcessor::Mode::Translate ||
                   processor.rewrites();

    // A read that ran while held text was flushed (nextStep) may have ended the body: it is
    // still to be relayed.
    std::size_t held_verified = 0;  // complete preamble events already checked
    while (run.read_running || !exchange.done()) {
        BodyStep step;
        if (processor.rewrites()) {
            step = co_await nextStep(run, run.deadline);
        } else {
            step.read = co_await exchange.read(run.deadline);
        }
        const auto& read = step.read;
        if (read.error) {
            run.failure = AttemptReport{
                .outcome = {.failure = *bodyFailure(false, upstream::isTimeout(read.error))},
                .detail =
                    "upstream failed before the first byte for the client: " + read.error.message(),
                .status = status};
            run.state = PreCommit::Failed;
            co_return;
        }
        if (!step.flushed && read.size == 0) continue;
        auto out =
            step.flushed ? processor.flushHeld() : processor.feed({exchange.chunk(), read.size});
        if (out.empty()) continue;
        std::string_view candidate = out;  // still valid: nothing is read before it is written
        if (run.event_stream) {
            run.held.append(out);
            candidate = run.held;
        }
        std::string upstream_error;
        auto point = commitPoint(
            run.event_stream, candidate, held_verified,
            {.enabled = route_.config.hold_preamble, .max_bytes = route_.config.preamble_max_bytes},
            &upstream_error);
        if (point == CommitPoint::UpstreamError) {
            // Nothing reached the client: fail over as if the upstream had answered 5xx.
            run.failure = AttemptReport{
                .outcome = {.failure = Failure::StreamError, .status = static_cast<int>(status)},
                .detail = "upstream sent an error event before any content: " +
                          (upstream_error.empty() ? std::string("(no message)") : upstream_error),
                .status = status};
            run.state = PreCommit::Failed;
            co_return;
        }
        if (point == CommitPoint::Commit) {
            run.first_out = candidate;
            break;
        }
    }
    if (run.first_out.empty()) run.first_out = run.held;  // the body ended within its preamble
    run.state = PreCommit::Relay;
}

// After the commit point: the client gets the answer (only the race's winner comes here).
http::awaitable<AttemptReport> ProxyCall::relayCommitted(AttemptRun& run) {
    if (run.state == PreCommit::Whole) co_return co_await relayWhole(run);
    auto& exchange = *run.exchange;
    const auto& target = run.target;
    const auto& upstream = *target.upstream;
    const auto& node = upstream.nodes()[target.node];
    const auto& response = exchange.response();
    const unsigned status = response.result_int();
    const auto sent_at = exchange.sentAt();
    const bool event_stream = run.event_stream;
    auto& processor = *run.processor;
    processor_ = &processor;
    whole_usage_.reset();
    // Committed: the node answered. A stream's health is judged by its start, not by how long
    // the client keeps it open.
    latencyAtCommit(run);
    const auto committed_at = Clock::now();
    // total and tpot: sampled when the upstream's last byte is in, before it is written on.
    // (usage() may parse a whole plain answer: only tpot needs it here.)
    auto sampleIfComplete = [&] {
        if (exchange.done() && run.latency_strategy != LatencyStrategy::Ttft) {
            latencyAtEnd(run, sent_at, event_stream ? committed_at : sent_at, processor.usage());
        }
    };
    sampleIfComplete();
    run.guard.responded(static_cast<int>(status), response[bhttp::field::retry_after]);
    sink_.begin(
        clientHeader(response, upstream, event_stream, secondsSince(sent_at), *run.prepared),
        run.rewrites ? std::nullopt : exchange.clientContentLength());
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
    if (exchange.done()) responseRead(run);
    const auto first_out = run.first_out;
    if (!first_out.empty()) {
        if (auto ec = co_await sink_.write(first_out.data(), first_out.size(), exchange.done());
            ec) {
            if (run.read_running) co_await settleRead(run);
            co_return report;
        }
    }
    // upstream timeout.read, when set, bounds the whole response; the route's timeout bounds
    // each gap between two chunks.
    const auto& timeouts = upstream.config().timeout;
    const auto total_deadline =
        timeouts.read.count() > 0 ? sent_at + timeouts.read : Clock::time_point::max();
    while (run.read_running || !exchange.done()) {
        auto idle_deadline = std::min(Clock::now() + route_.config.timeout, total_deadline);
        BodyStep step;
        if (processor.rewrites()) {
            step = co_await nextStep(run, idle_deadline);
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
            out = step.flushed ? processor.flushHeld()
                               : processor.feed({exchange.chunk(), read.size});
        }
        if (exchange.done()) {
            sampleIfComplete();  // before the guard goes: with the usage of the last read
            responseRead(run);
        }
        if (out.empty()) continue;
        if (auto ec = co_await sink_.write(out.data(), out.size(), exchange.done()); ec) {
            if (run.read_running) co_await settleRead(run);
            co_return report;  // the client went away: drop the upstream connection
        }
    }
    if (auto tail = processor.finish(); !tail.empty()) {
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
void ProxyCall::responseRead(AttemptRun& run) {
    run.guard.release();
    sink_.stopWatching();
}

// Reads a retryable answer's body (bounded) so it can be returned if nothing better comes.
http::awaitable<AttemptReport> ProxyCall::keepRetryableAnswer(AttemptRun& run) {
    auto& exchange = *run.exchange;
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
        auto read = co_await exchange.read(run.deadline);
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
http::awaitable<void> ProxyCall::readWhole(AttemptRun& run) {
    auto& exchange = *run.exchange;
    while (!exchange.done()) {
        auto read = co_await exchange.read(run.deadline);
        if (read.error) {
            run.failure = AttemptReport{
                .outcome = {.failure = *bodyFailure(false, upstream::isTimeout(read.error))},
                .detail = "reading the response failed: " + read.error.message(),
                .status = exchange.response().result_int()};
            run.state = PreCommit::Failed;
            co_return;
        }
        run.whole_body.append(exchange.chunk(), read.size);
    }
    run.state = PreCommit::Whole;
}

http::awaitable<AttemptReport> ProxyCall::relayWhole(AttemptRun& run) {
    auto& exchange = *run.exchange;
    const auto& prepared = *run.prepared;
    const auto& upstream = *run.target.upstream;
    const auto& response = exchange.response();
    const unsigned status = response.result_int();
    const bool translated = prepared.plan.translation != Translation::None;
    processor_ = nullptr;
    latencyAtCommit(run);
    run.guard.responded(static_cast<int>(status), response[bhttp::field::retry_after]);
    std::string body = std::move(run.whole_body);
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
    if (answered && whole_usage_) {
        latencyAtEnd(run, exchange.sentAt(), exchange.sentAt(), *whole_usage_);
    }
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
void ProxyCall::latencyAtCommit(AttemptRun& run) {
    if (run.latency_strategy == LatencyStrategy::Ttft) run.guard.firstByte();
}

void ProxyCall::latencyAtEnd(AttemptRun& run, Clock::time_point sent_at,
                             Clock::time_point tokens_from, const Usage& usage) {
    auto now = Clock::now();
    switch (run.latency_strategy) {
        case LatencyStrategy::Ttft:
            break;
        case LatencyStrategy::Total:
            run.guard.sample(now - sent_at, now);
            break;
        case LatencyStrategy::Tpot:
            if (usage.completion_tokens && *usage.completion_tokens > 0) {
                run.guard.sample((now - tokens_from) / static_cast<long>(*usage.completion_tokens),
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
http::awaitable<BodyStep> ProxyCall::nextStep(AttemptRun& run, Clock::time_point deadline) {
    auto& exchange = *run.exchange;
    const bool holding = run.processor->holding();
    if (!run.read_running && !holding) {
        BodyStep step{.read = co_await exchange.read(deadline)};
        run.last_read_at = Clock::now();
        co_return step;
    }
    if (!run.pause_timer) run.pause_timer.emplace(services_.executor);
    if (!run.read_running) {
        run.read_running = true;
        run.read_result.reset();
        http::net::co_spawn(services_.executor, readInBackground(run, deadline),
                            http::net::detached);
    }
    if (!run.read_result) {
        run.pause_timer->expires_at(holding
                                        ? run.last_read_at + route_.response_rewrite->max_holdback
                                        : Clock::time_point::max());
        co_await run.pause_timer->async_wait(http::use_nothrow);
    }
    if (run.read_result) {
        run.read_running = false;
        run.last_read_at = Clock::now();
        BodyStep step{.read = *run.read_result};
        run.read_result.reset();
        co_return step;
    }
    co_return BodyStep{.flushed = true};
}

http::awaitable<void> ProxyCall::readInBackground(AttemptRun& run, Clock::time_point deadline) {
    run.read_result = co_await run.exchange->read(deadline);
    run.pause_timer->cancel();
}

// The relay is leaving with a background read under way: it must end before the exchange does.
http::awaitable<void> ProxyCall::settleRead(AttemptRun& run) {
    run.exchange->cancel();
    while (!run.read_result) {
        run.pause_timer->expires_at(Clock::time_point::max());
        co_await run.pause_timer->async_wait(http::use_nothrow);
    }
    run.read_result.reset();
    run.read_running = false;
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
