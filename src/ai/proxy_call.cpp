#include "proxy_call.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "aiproxy/ai/error_answer.hpp"
#include "aiproxy/common/ascii.hpp"
#include "aiproxy/upstream/chash_key.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"
#include "attempt_trace.hpp"

namespace aiproxy::ai {

// GCC 12 inlines Asio's coroutine frame allocation (aligned_alloc) and its sized operator delete
// into these coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {

namespace bhttp = http::bhttp;

Failure failureOf(upstream::ExchangeFailure failure) {
    switch (failure) {
        case upstream::ExchangeFailure::Connect:
            return Failure::Connect;
        case upstream::ExchangeFailure::Timeout:
            return Failure::Timeout;
        case upstream::ExchangeFailure::Reset:
            return Failure::Reset;
        case upstream::ExchangeFailure::None:
            break;
    }
    return Failure::None;
}

}  // namespace

std::string suppressedNote(std::uint64_t left_out) {
    if (left_out == 0) return {};
    return " (" + std::to_string(left_out) + " similar line(s) for this node left out)";
}

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

ProxyCall::ProxyCall(const AiProxyRoute& route, http::RequestContext& context,
                     WorkerServices& services)
    : route_(route),
      context_(context),
      request_(context.request),
      sink_(context.sink),
      services_(services) {
    client_api_ = classifyClientApi(context.api_path);
    if (route_.deadline) deadline_ = Clock::now() + *route_.deadline;
}

http::awaitable<void> ProxyCall::run() {
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
                      .only_within = route_.retry_only_within,
                      .deadline = deadline_},
                     std::move(primary),
                     std::move(fallback)};
    std::optional<HedgePlan> hedges;
    if (route_.config.hedge) {
        hedges.emplace(
            HedgePolicy{.after = route_.config.hedge->after, .max = route_.config.hedge->max});
    }
    AttemptReport last;
    std::optional<KeptResponse> kept;
    const upstream::Upstream* last_upstream = route_.upstreams.front().get();
    AttemptRuns runs;
    runs_ = &runs;
    // The close watch may outlive this frame; it must not reach the runs then.
    struct Forget {
        AttemptRuns*& runs;
        ~Forget() { runs = nullptr; }
    } forget{runs_};
    sink_.watchForClose([this] {
        client_gone_ = true;
        cancelInFlight();
    });
    bool fell_back = false;
    auto& budget = route_.primary_set->runtime->retryBudget();
    int sent = 0;
    while (auto target = plan.next()) {
        if (plan.attempts() == 1) {
            budget.recordRequest(Clock::now());
        } else if (!budget.tryRetry(route_.primary_set->balancing.retry_budget, Clock::now())) {
            count(route_.metrics.retry_budget_exhausted);
            retry_budget_spent_ = true;
            giveBackUnsent(*target);
            break;
        }
        std::size_t slot = slotOf(*target);
        last_upstream = target->upstream;
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
            giveBackUnsent(*target);
            sink_.stopWatching();
            co_await answerError(prepared.error->status, prepared.error->message,
                                 "invalid_request_error", prepared.error->code, *target->upstream);
            co_return;
        }
        for (auto& other : runs)
            other.reset();
        AttemptRun& first = launch(runs, 0, *target, plan, false);
        AttemptRun* winner = nullptr;
        if (hedges) {
            winner = co_await race(runs, plan, *hedges, last, kept);
        } else {
            co_await precommit(first, plan);
            if (first.state == PreCommit::Failed) {
                settleFailed(first, last, kept);
            } else {
                winner = &first;
            }
        }
        sent = plan.attempts();
        if (winner) {
            // The answering attempt's upstream and count go to the client and the metrics.
            last_upstream = winner->target.upstream;
            context_.outcome.upstream = winner->target.upstream->id();
            upstream_slot_ = slotOf(winner->target);
            attempts_so_far_ = plan.attempts();
            auto report = settle(*winner, co_await relayCommitted(*winner));
            if (hedges) co_await drainRace(runs);
            if (report.committed) {
                sink_.stopWatching();
                account(*winner->prepared);  // a stream cut short by its client still used tokens
                processor_ = nullptr;
                if (client_gone_) sink_.abort();
                co_return;
            }
            if (!client_gone_) logFailure(winner->target, report, winner->number);
            last = std::move(report);  // a plain answer that could not be changed
        }
        if (client_gone_) {
            log().debug("request {}: client closed the connection; upstream request cancelled",
                        request_.request_id);
            sink_.abort();
            co_return;
        }
        if (plan.record(last.outcome) == Verdict::Done) break;
    }
    sink_.stopWatching();
    co_await answerFailure(last, std::move(kept), *last_upstream, sent, plan.deadlineSpent());
}

// Puts an attempt to target in runs[index], counted in flight on its node from now.
AttemptRun& ProxyCall::launch(AttemptRuns& runs, std::size_t index, const AttemptTarget& target,
                              const AttemptPlan& plan, bool hedge) {
    std::size_t slot = slotOf(target);
    context_.outcome.upstream = target.upstream->id();
    upstream_slot_ = slot;
    AttemptRun& run =
        runs[index].emplace(target, plan.attempts(), hedge, prepare(*target.upstream, slot));
    run.started = Clock::now();
    run.guard = upstream::AttemptGuard{*target.set->runtime, target.member, target.notes.trial,
                                       run.started};
    return run;
}

// The end of an attempt that will not be relayed on: its outcome goes to the node's health
// (unless the client left or it lost a race), the logs and the answer kept for the client.
void ProxyCall::settleFailed(AttemptRun& run, AttemptReport& last,
                             std::optional<KeptResponse>& kept) {
    auto report = settle(run, std::move(run.failure));
    if (run.cancelled) return;
    if (!client_gone_) logFailure(run.target, report, run.number);
    if (report.kept) kept = std::move(report.kept);
    last = std::move(report);
}

// Records an attempt that ended and lets its node go.
AttemptReport ProxyCall::settle(AttemptRun& run, AttemptReport report) {
    report.outcome.elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - run.started);
    // A client that leaves is never the node's failure: no health, trial or latency
    // feedback (ARCHITECTURE.md section 6); neither is losing a hedge race.
    if (client_gone_ && !report.committed) report.client_cancel = true;
    if (run.cancelled) report.hedge_cancelled = true;
    if (!report.client_cancel && !report.hedge_cancelled) reportFailure(run, report);
    report.trace_span = run.trace_span;
    recordAttempt(run, report);
    run.guard.release();
    run.settled = true;
    return report;
}

void ProxyCall::cancelInFlight() {
    if (!runs_) return;
    for (auto& run : *runs_) {
        if (!run || run->settled) continue;
        run->abandoned = true;
        if (run->exchange) run->exchange->cancel();
    }
}

// ai-proxy: 0 primary, 1 fallback; ai-proxy-multi: the instance's index.
std::size_t ProxyCall::slotOf(const AttemptTarget& target) const {
    if (route_.multi) return target.member;
    return target.fallback ? 1 : 0;
}

// The consistent-hash key of this request for a chash set; empty for other algorithms.
std::string ProxyCall::hashKey(const upstream::BalancedSet& set) const {
    if (set.balancing.type != "chash") return {};
    const auto& message = request_.message;
    upstream::RequestFacts facts{
        .remote_addr = request_.clientAddress(),
        .uri = request_.path,
        .query = request_.query,
        .header = [&message](std::string_view name) { return message[name]; },
        .consumer = context_.consumer,
        .body_field = [this](std::string_view name) { return bodyField(name); },
    };
    return upstream::chashKey(set.balancing, facts);
}

// A top-level string or integer of the client's JSON body ("" otherwise), for session keys.
std::string ProxyCall::bodyField(std::string_view name) const {
    const nlohmann::json* body = request_.jsonBody();
    if (!body || !body->is_object()) return {};
    auto found = body->find(name);
    if (found == body->end()) return {};
    if (found->is_string()) return found->get<std::string>();
    if (found->is_number_integer()) return found->dump();
    return {};
}

// The request for one upstream, shaped once and reused by every attempt on it.
const PreparedRequest& ProxyCall::prepare(const upstream::Upstream& upstream, std::size_t slot) {
    if (prepared_.size() <= slot) prepared_.resize(slot + 1);
    if (!prepared_[slot]) {
        prepared_[slot] = prepareRequest(upstream, request_, client_api_, context_.api_path);
    }
    return *prepared_[slot];
}

// The attempt up to its commit point: sends the request, reads the head and what comes before
// the first content. Leaves run.state Failed (run.failure) or ready to relay.
http::awaitable<void> ProxyCall::precommit(AttemptRun& run, const AttemptPlan& plan) {
    const auto& target = run.target;
    const auto& upstream = *target.upstream;
    const auto& node = upstream.nodes()[target.node];
    const auto& strategy = target.set->balancing.latency_strategy;
    run.latency_strategy = strategy == "tpot"    ? LatencyStrategy::Tpot
                           : strategy == "total" ? LatencyStrategy::Total
                                                 : LatencyStrategy::Ttft;
    run.deadline = attemptDeadline(Clock::now(), route_.config.timeout, deadline_);
    const PreparedRequest& prepared = *run.prepared;
    std::string head =
        requestHead(prepared, node, request_.message, route_.config.enable_upstream_host);
    run.trace_span = traceAttemptStart(context_, target, run.number, run.hedge, head);
    std::string_view body = prepared.body ? *prepared.body : request_.message.body();
    auto& exchange = run.exchange.emplace(services_.pool, services_.dns,
                                          metricsOf().connections_active, services_.metrics_slot);
    upstream::ExchangeLimits limits{.max_header_bytes = route_.max_response_header_bytes,
                                    .max_body_bytes = route_.max_response_body_bytes,
                                    .head_request = request_.message.method() == bhttp::verb::head};
    // A client that leaves, or a race that is won elsewhere, cancels it.
    auto started =
        co_await exchange.start(upstream, node, head, body, limits, run.deadline, run.abandoned);
    if (started.failure != upstream::ExchangeFailure::None) {
        run.failure = AttemptReport{.outcome = {.failure = failureOf(started.failure)},
                                    .detail = std::move(started.detail),
                                    .client_cancel = started.client_cancel};
        run.state = PreCommit::Failed;
        co_return;
    }
    co_await relayUntilCommit(run, plan);
}

// Failures without a usable answer count against the node's health; answers were reported
// when they arrived (see relay()).
void ProxyCall::reportFailure(AttemptRun& run, const AttemptReport& report) {
    auto& guard = run.guard;
    switch (report.outcome.failure) {
        case Failure::Connect:
        case Failure::Reset:
            guard.failed(upstream::FailureKind::Tcp, report.detail);
            break;
        case Failure::Timeout:
            guard.failed(upstream::FailureKind::Timeout, report.detail);
            break;
        case Failure::StreamError:
            guard.failed(upstream::FailureKind::Http, report.detail);
            break;
        case Failure::None:
        case Failure::Status:
            break;
    }
}

void ProxyCall::recordAttempt(const AttemptRun& run, const AttemptReport& report) {
    const auto& target = run.target;
    const auto& node = target.upstream->nodes()[target.node];
    auto label = report.hedge_cancelled
                     ? AttemptLabel::HedgeCancelled
                     : labelOf(report.outcome.failure, report.status, report.client_cancel);
    double seconds = secondsSince(run.started);
    traceAttemptEnd(context_, report, attemptLabelName(label));
    auto& outcome = context_.outcome;
    outcome.node = node.address;
    outcome.attempts.push_back(http::AttemptFacts{.upstream = target.upstream->id(),
                                                  .node = node.address,
                                                  .outcome = attemptLabelName(label),
                                                  .status = report.status,
                                                  .ms = seconds * 1000,
                                                  .hedge = run.hedge});
    if (!report.committed) {
        if (!trace_.empty()) trace_ += ',';
        trace_ += target.upstream->id();
        trace_ += ':';
        trace_ += report.outcome.failure == Failure::Status && !report.hedge_cancelled
                      ? std::to_string(report.status)
                      : std::string(attemptLabelName(label));
        trace_ += ':';
        trace_ += std::to_string(std::lround(seconds * 1000));
        trace_ += "ms";
    }
    // Relaying a committed response is upstream time too: the gateway only forwards. Racing
    // attempts overlap: only the answering one's time counts.
    if (!report.hedge_cancelled) upstream_seconds_ += seconds;
    if (report.committed) {
        outcome.time_to_first_token = report.time_to_first_token;
        stream_ = report.stream;
    }
    std::size_t slot = slotOf(target);
    const auto* upstream_metrics =
        slot < route_.metrics.upstreams.size() ? route_.metrics.upstreams[slot] : nullptr;
    if (upstream_metrics && target.node < upstream_metrics->attempts.size()) {
        count(upstream_metrics->attempts[target.node][static_cast<std::size_t>(label)]);
    }
}

void ProxyCall::logFailure(const AttemptTarget& target, const AttemptReport& report, int attempt) {
    auto left_out = admitFailureLine(target);
    if (!left_out) return;
    const auto& node = target.upstream->nodes()[target.node];
    log().warn("request {}: attempt {} to {} {} failed: {} ({}){}", request_.request_id, attempt,
               target.upstream->id(), node.address,
               attemptLabelName(labelOf(report.outcome.failure, report.status, false)),
               report.detail, suppressedNote(*left_out));
}

// X-AIProxy-Trace: the failed attempts so far ("openai:connect_error:0ms", "openai:503:4ms"),
// then the answering one ("local:200:ttft=12ms"). The count stays in X-AIProxy-Attempts.
void ProxyCall::addGatewayHeaders(bhttp::fields& header, const std::string& upstream_id,
                                  std::string_view answering) {
    header.set("X-Request-Id", request_.request_id);
    if (!route_.expose_upstream_headers) return;
    header.set("X-AIProxy-Upstream", upstream_id);
    header.set("X-AIProxy-Attempts", std::to_string(attempts_so_far_));
    std::string trace = trace_;
    if (!answering.empty()) {
        if (!trace.empty()) trace += ',';
        trace += answering;
    }
    if (!trace.empty()) header.set("X-AIProxy-Trace", trace);
}

http::awaitable<void> ProxyCall::answerFailure(const AttemptReport& last,
                                               std::optional<KeptResponse> kept,
                                               const upstream::Upstream& upstream, int attempts,
                                               bool deadline_spent) {
    attempts_so_far_ = attempts;
    std::string message =
        "all " + std::to_string(attempts) + " upstream attempt(s) failed; last: " + last.detail;
    if (deadline_spent && route_.deadline) {
        message = "the request's deadline of " + std::to_string(route_.deadline->count()) +
                  " ms ran out after " + std::to_string(attempts) +
                  " upstream attempt(s); last: " + last.detail;
    }
    if (retry_budget_spent_) {
        message += "; no retry sent: the retry budget of " + route_.primary_set->runtime->id() +
                   " is spent";
    }
    switch (finalAnswer(kept.has_value(), last.outcome.failure, deadline_spent)) {
        case FinalAnswer::GatewayTimeout:
            co_await answerError(504, message, "timeout_error", "upstream_timeout", upstream);
            co_return;
        case FinalAnswer::BadGateway:
            co_await answerError(502, message, "upstream_error", "upstream_unavailable", upstream);
            co_return;
        case FinalAnswer::KeptUpstreamAnswer:
            break;
    }
    http::Response response;
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
    if (!kept->content_type.empty()) response.set(bhttp::field::content_type, kept->content_type);
    response.body() = std::move(kept->body);
    addGatewayHeaders(response, upstream.id());
    response.prepare_payload();
    co_await sink_.send(std::move(response));
}

http::awaitable<void> ProxyCall::answerError(unsigned status, const std::string& message,
                                             std::string_view type, std::string_view code,
                                             const upstream::Upstream& upstream) {
    auto response = errorAnswer(client_api_, status, message, type, code);
    addGatewayHeaders(response, upstream.id());
    response.prepare_payload();
    co_await sink_.send(std::move(response));
}

spdlog::logger& ProxyCall::log() const {
    return services_.log ? *services_.log : *spdlog::default_logger_raw();
}

// Whether a failure line for this node is logged now (see LogThrottle); a line left out is
// counted in aiproxy_log_lines_suppressed_total.
std::optional<std::uint64_t> ProxyCall::admitFailureLine(const AttemptTarget& target) {
    auto verdict = target.set->runtime->node(target.member).failureLog().admit(Clock::now());
    if (!verdict) count(metricsOf().log_suppressed);
    return verdict;
}

void ProxyCall::count(metrics::CounterCell* cell) {
    if (cell) cell->add(services_.metrics_slot);
}

void ProxyCall::countAt(const std::vector<metrics::CounterCell*>& cells, std::size_t slot) {
    if (slot < cells.size()) count(cells[slot]);
}

const DataPathMetrics& ProxyCall::metricsOf() const {
    static const DataPathMetrics kNone;
    return services_.metrics ? *services_.metrics : kNone;
}

#pragma GCC diagnostic pop

}  // namespace aiproxy::ai
