#include "aiproxy/ai/attempt_plan.hpp"

#include <algorithm>

#include "aiproxy/upstream/balancer.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::ai {

AttemptPlan::AttemptPlan(int retry, std::span<const int> retry_on, Pool primary,
                         std::optional<Pool> fallback)
    : max_attempts_(1 + std::max(retry, 0)),
      retry_on_(retry_on),
      primary_(primary),
      fallback_(fallback),
      tried_primary_(primary.upstream->nodes().size(), false),
      tried_fallback_(fallback ? fallback->upstream->nodes().size() : 0, false) {}

bool AttemptPlan::anyLeft(const Pool& pool, const std::vector<bool>& tried) {
    const auto& nodes = pool.upstream->nodes();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!tried[i] && nodes[i].weight > 0) return true;
    }
    return false;
}

bool AttemptPlan::hasUntried() const {
    return anyLeft(primary_, tried_primary_) || (fallback_ && anyLeft(*fallback_, tried_fallback_));
}

std::optional<AttemptTarget> AttemptPlan::next() {
    if (attempts_ >= max_attempts_) return std::nullopt;
    if (auto node = primary_.balancer->pick({.excluded = tried_primary_})) {
        tried_primary_[*node] = true;
        ++attempts_;
        return AttemptTarget{.upstream = primary_.upstream, .node = *node, .fallback = false};
    }
    if (fallback_) {
        if (auto node = fallback_->balancer->pick({.excluded = tried_fallback_})) {
            tried_fallback_[*node] = true;
            ++attempts_;
            return AttemptTarget{.upstream = fallback_->upstream, .node = *node, .fallback = true};
        }
    }
    return std::nullopt;
}

bool AttemptPlan::isRetryableStatus(int status) const {
    return std::find(retry_on_.begin(), retry_on_.end(), status) != retry_on_.end();
}

bool AttemptPlan::wouldRetry(int status) const {
    return isRetryableStatus(status) && attempts_ < max_attempts_ && hasUntried();
}

Verdict AttemptPlan::record(const AttemptOutcome& outcome) {
    switch (outcome.failure) {
        case Failure::None:
            return Verdict::Done;
        case Failure::Status:
            return wouldRetry(outcome.status) ? Verdict::Retry : Verdict::Done;
        case Failure::Connect:
        case Failure::Timeout:
        case Failure::Reset:
            return attempts_ < max_attempts_ && hasUntried() ? Verdict::Retry : Verdict::Done;
    }
    return Verdict::Done;
}

}  // namespace aiproxy::ai
