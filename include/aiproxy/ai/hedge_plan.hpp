#pragma once
// HedgePlan: when a request sends its next hedge (ai-proxy's `hedge`), as a pure class with the
// clock passed in. The proxy's race loop asks dueAt() how long to wait, tells it what was sent,
// and stops it when no hedge can go out (no node left, retry budget spent). Which node a hedge
// goes to is AttemptPlan's: a node tried or in flight in this request is never picked again.
//
// Time is counted from the last attempt sent, so with max > 1 the hedges are spaced by after_ms
// instead of going out together; a retry after a failure starts the count again. Hedges are
// counted per request, whatever the retries in between.

#include <chrono>
#include <optional>

#include "aiproxy/upstream/balancer.hpp"

namespace aiproxy::ai {

struct HedgePolicy {
    std::chrono::milliseconds after{0};
    int max = 1;  // hedges per request
};

class HedgePlan {
public:
    using Clock = upstream::Clock;

    explicit HedgePlan(HedgePolicy policy) : policy_(policy) {}

    // An attempt (the first, a retry or a hedge) was sent now: the next hedge waits for after.
    void attemptSent(Clock::time_point now) { last_sent_ = now; }
    // When the next hedge is due; nullopt when none will be sent.
    std::optional<Clock::time_point> dueAt() const;
    // Whether a hedge should go out now, with `in_flight` attempts still before their commit
    // point (none in flight: the request is between attempts, and retrying is AttemptPlan's).
    bool due(Clock::time_point now, int in_flight) const;
    // A hedge went out now.
    void hedgeSent(Clock::time_point now);
    // No hedge could go out (no candidate node, budget spent): none for the rest of the request.
    void stop() { stopped_ = true; }

    int sent() const { return sent_; }

private:
    HedgePolicy policy_;
    std::optional<Clock::time_point> last_sent_;
    int sent_ = 0;
    bool stopped_ = false;
};

// Whether an attempt's answer with a retryable status is a failure to move past (kept, in case
// nothing better comes) rather than the answer to relay: when a retry would follow, or when
// another attempt of the request is still racing and may yet answer.
bool passesOverStatus(bool retryable_status, bool would_retry, bool another_in_flight);

}  // namespace aiproxy::ai
