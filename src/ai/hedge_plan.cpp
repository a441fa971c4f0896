#include "aiproxy/ai/hedge_plan.hpp"

namespace aiproxy::ai {

std::optional<HedgePlan::Clock::time_point> HedgePlan::dueAt() const {
    if (stopped_ || sent_ >= policy_.max || !last_sent_) return std::nullopt;
    return *last_sent_ + policy_.after;
}

bool HedgePlan::due(Clock::time_point now, int in_flight) const {
    if (in_flight <= 0) return false;
    auto at = dueAt();
    return at && now >= *at;
}

void HedgePlan::hedgeSent(Clock::time_point now) {
    ++sent_;
    last_sent_ = now;
}

bool passesOverStatus(bool retryable_status, bool would_retry, bool another_in_flight) {
    return retryable_status && (would_retry || another_in_flight);
}

}  // namespace aiproxy::ai
