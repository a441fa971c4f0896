// TTFT hedging (ai-proxy's `hedge`): the attempts of one request race through their pre-commit
// phase. The first attempt runs on its own; when it has not reached its commit point after_ms
// after it was sent, the same request goes to the plan's next node too (HedgePlan says when,
// AttemptPlan where: never a node already tried or in flight). The first attempt to reach its
// commit point wins; the others are closed at once, so their upstreams stop generating, and are
// recorded as hedge_cancelled, which is no node's failure. An attempt that fails leaves the
// others racing; when all have failed, the request retries as without hedging.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "aiproxy/upstream/upstream_runtime.hpp"
#include "proxy_call.hpp"

namespace aiproxy::ai {

// GCC 12 inlines Asio's coroutine frame allocation (aligned_alloc) and its sized operator delete
// into these coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Returns the winner, its pre-commit phase done and nothing sent to the client yet; or null
// when every attempt failed (last and kept updated, plan.record() is due) or the client left.
// The losers may still be ending: drainRace() waits for them.
http::awaitable<AttemptRun*> ProxyCall::race(AttemptRuns& runs, AttemptPlan& plan,
                                             HedgePlan& hedges, AttemptReport& last,
                                             std::optional<KeptResponse>& kept) {
    if (!race_timer_) race_timer_.emplace(services_.executor);
    race_winner_ = nullptr;
    AttemptRun& first = *runs[0];
    hedges.attemptSent(first.started);
    http::net::co_spawn(services_.executor, raceOne(first, plan), http::net::detached);
    while (true) {
        int in_flight = 0;
        for (auto& run : runs) {
            if (!run || run->settled) continue;
            if (!run->finished) {
                ++in_flight;
            } else if (run->state == PreCommit::Failed) {
                settleFailed(*run, last, kept);
            } else if (client_gone_) {
                settle(*run, AttemptReport{});  // ready, but nobody to answer
            }
        }
        if (client_gone_ || !race_winner_) {
            if (in_flight == 0) co_return nullptr;
            if (!client_gone_ && hedges.due(Clock::now(), in_flight) &&
                sendHedge(runs, plan, hedges)) {
                continue;
            }
            auto wake = client_gone_ ? std::nullopt : hedges.dueAt();
            race_timer_->expires_at(wake.value_or(Clock::time_point::max()));
            co_await race_timer_->async_wait(http::use_nothrow);
            continue;
        }
        break;
    }
    AttemptRun* winner = race_winner_;
    for (auto& run : runs) {
        if (!run || run->settled || &*run == winner) continue;
        run->cancelled = true;
        run->abandoned = true;
        if (run->exchange) {
            run->exchange->cancel();
            // Closed now, not pooled: the upstream must stop generating for nobody.
            if (run->finished && !run->read_running) run->exchange.reset();
        }
        settle(*run, AttemptReport{});
    }
    if (winner->hedge) countAt(route_.metrics.hedges_won, slotOf(winner->target));
    co_return winner;
}

// One racing attempt's pre-commit phase, spawned so that several run at once.
http::awaitable<void> ProxyCall::raceOne(AttemptRun& run, const AttemptPlan& plan) {
    co_await precommit(run, plan);
    if (run.cancelled || client_gone_) {
        if (run.read_running) co_await settleRead(run);
        run.exchange.reset();  // closes the connection: nobody will read this answer
    } else if (run.state != PreCommit::Failed && !race_winner_) {
        race_winner_ = &run;
    }
    run.finished = true;
    race_timer_->cancel();
}

// Sends the next hedge, if a node and the retry budget allow; otherwise no more hedges are sent
// for this request (the budget's refusal is counted as a retry's would be).
bool ProxyCall::sendHedge(AttemptRuns& runs, AttemptPlan& plan, HedgePlan& hedges) {
    std::size_t index = 0;
    while (index < runs.size() && runs[index])
        ++index;
    if (index == runs.size() || !plan.canSendMore()) {
        hedges.stop();
        return false;
    }
    auto& budget = route_.primary_set->runtime->retryBudget();
    if (!budget.tryRetry(route_.primary_set->balancing.retry_budget, Clock::now())) {
        count(route_.metrics.retry_budget_exhausted);
        hedges.stop();
        return false;
    }
    auto target = plan.next();
    if (!target || prepare(*target->upstream, slotOf(*target)).error) {
        if (target) giveBackUnsent(*target);
        hedges.stop();
        return false;
    }
    AttemptRun& run = launch(runs, index, *target, plan, true);
    countAt(route_.metrics.hedges_sent, slotOf(run.target));
    hedges.hedgeSent(run.started);
    http::net::co_spawn(services_.executor, raceOne(run, plan), http::net::detached);
    return true;
}

// Whether an attempt other than `run` is still before its commit point and may yet answer.
bool ProxyCall::anotherInFlight(const AttemptRun& run) const {
    if (!runs_) return false;
    for (const auto& other : *runs_) {
        if (other && &*other != &run && !other->finished && !other->cancelled) return true;
    }
    return false;
}

// Waits until no racing attempt's coroutine is left, so the runs can go.
http::awaitable<void> ProxyCall::drainRace(AttemptRuns& runs) {
    for (auto& run : runs) {
        if (!run) continue;
        while (!run->finished) {
            race_timer_->expires_at(Clock::time_point::max());
            co_await race_timer_->async_wait(http::use_nothrow);
        }
        if (run->read_running) co_await settleRead(*run);
        run->exchange.reset();
    }
}

#pragma GCC diagnostic pop

}  // namespace aiproxy::ai
