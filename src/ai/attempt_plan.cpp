#include "aiproxy/ai/attempt_plan.hpp"

#include <algorithm>

#include "aiproxy/upstream/upstream.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::ai {

AttemptPlan::AttemptPlan(RetryPolicy policy, Pool primary, std::optional<Pool> fallback)
    : policy_(policy),
      max_attempts_(1 + std::max(policy.retry, 0)),
      primary_(std::move(primary)),
      fallback_(std::move(fallback)),
      tried_primary_(primary_.set->members.size(), false),
      tried_fallback_(fallback_ ? fallback_->set->members.size() : 0, false) {}

void giveBackUnsent(const AttemptTarget& target) {
    if (target.notes.trial) target.set->runtime->node(target.member).health().releaseTrial();
}

bool AttemptPlan::anyLeft(const Pool& pool, const std::vector<bool>& tried) {
    const auto& nodes = pool.set->balancing.nodes;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!tried[i] && nodes[i].weight > 0) return true;
    }
    return false;
}

bool AttemptPlan::hasUntried() const {
    return anyLeft(primary_, tried_primary_) || (fallback_ && anyLeft(*fallback_, tried_fallback_));
}

std::optional<AttemptTarget> AttemptPlan::pickFrom(Pool& pool, std::vector<bool>& tried,
                                                   bool fallback, bool fail_open,
                                                   upstream::Clock::time_point now) {
    upstream::PickNotes notes;
    auto member = pool.balancer->pick({.excluded = tried,
                                       .hash_key = pool.hash_key,
                                       .now = now,
                                       .notes = &notes,
                                       .allow_fail_open = fail_open});
    if (!member) return std::nullopt;
    tried[*member] = true;
    ++attempts_;
    const auto& chosen = pool.set->members[*member];
    return AttemptTarget{.upstream = chosen.upstream,
                         .node = chosen.node,
                         .set = pool.set,
                         .member = *member,
                         .fallback = fallback,
                         .notes = notes};
}

std::optional<AttemptTarget> AttemptPlan::next(upstream::Clock::time_point now) {
    if (attempts_ >= max_attempts_ || deadlineSpent(now)) return std::nullopt;
    for (bool fail_open : {false, true}) {
        if (auto target = pickFrom(primary_, tried_primary_, false, fail_open, now)) return target;
        if (fallback_) {
            if (auto target = pickFrom(*fallback_, tried_fallback_, true, fail_open, now)) {
                return target;
            }
        }
    }
    return std::nullopt;
}

bool AttemptPlan::isRetryableStatus(int status) const {
    return std::find(policy_.retry_on.begin(), policy_.retry_on.end(), status) !=
           policy_.retry_on.end();
}

bool AttemptPlan::canRetryAfter(std::chrono::milliseconds elapsed) const {
    if (policy_.only_within && elapsed > *policy_.only_within) return false;
    return attempts_ < max_attempts_ && hasUntried();
}

bool AttemptPlan::wouldRetry(int status, std::chrono::milliseconds elapsed) const {
    return isRetryableStatus(status) && canRetryAfter(elapsed);
}

Verdict AttemptPlan::record(const AttemptOutcome& outcome) {
    switch (outcome.failure) {
        case Failure::None:
            return Verdict::Done;
        case Failure::Status:
            return wouldRetry(outcome.status, outcome.elapsed) ? Verdict::Retry : Verdict::Done;
        case Failure::Connect:
        case Failure::Timeout:
        case Failure::Reset:
        case Failure::StreamError:
            return policy_.retry_failures && canRetryAfter(outcome.elapsed) ? Verdict::Retry
                                                                            : Verdict::Done;
    }
    return Verdict::Done;
}

}  // namespace aiproxy::ai
