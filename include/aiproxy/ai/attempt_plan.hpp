#pragma once
// AttemptPlan: the retry and fallback decision for one request, as a pure value-in value-out
// class (ARCHITECTURE.md section 4.5). The I/O coroutine asks next() for a target, performs the
// attempt, and reports the outcome to record(), which says whether to try again.
//
// Order: the primary set's balancer picks first (ai-proxy: the primary upstream's nodes;
// ai-proxy-multi: the instances); each retry goes to a member not yet tried. Members that are
// ejected sit out, so when the primary set has no healthy member left the fallback set (ai-proxy's
// fallback upstream) gets the request at once. Only when neither has a healthy untried member do
// the ejected ones get tried anyway (fail open), primary first: ejecting everything must not turn
// a partial outage into a total one. Policy (retry count, retryable statuses) comes from the
// route; state (what was tried) lives here and dies with the request.

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aiproxy/upstream/balancer.hpp"

namespace aiproxy::upstream {
class Upstream;
struct BalancedSet;
}  // namespace aiproxy::upstream

namespace aiproxy::ai {

struct AttemptTarget {
    const upstream::Upstream* upstream = nullptr;
    std::size_t node = 0;  // index into upstream->nodes()
    const upstream::BalancedSet* set = nullptr;
    std::size_t member = 0;  // index into set->members (the runtime's node index)
    bool fallback = false;   // from the fallback set
    upstream::PickNotes notes;
};

// A picked target that will not be sent (the retry budget said no, the request cannot be built
// for it): gives back the half-open trial its pick won, so the node is not left untried until
// the trial's lease runs out.
void giveBackUnsent(const AttemptTarget& target);

enum class Failure {
    None,         // the upstream answered with a status that is not retried: relay it
    Connect,      // DNS, TCP connect or TLS handshake failed
    Timeout,      // no response header (or first body byte) within the attempt's time
    Reset,        // connection closed or garbage before the commit point
    Status,       // the upstream answered with a status in retry_on
    StreamError,  // a stream's error event before any content (overloaded, server error)
};

struct AttemptOutcome {
    Failure failure = Failure::None;
    int status = 0;  // for Failure::Status and Failure::None
    // Feedback for balancers and health: time to the first response byte, and the upstream's
    // Retry-After header (empty when absent) on a 429 or 503.
    std::optional<double> ttfb_seconds;
    std::string retry_after;
    std::chrono::milliseconds elapsed{0};  // how long the attempt took until it failed
};

enum class Verdict { Retry, Done };

struct RetryPolicy {
    int retry = 1;                  // attempts = 1 + retry
    std::span<const int> retry_on;  // statuses that move on; must outlive the plan
    bool retry_failures = true;     // connect failures, timeouts and resets move on
    std::optional<std::chrono::milliseconds> only_within;  // slower failures are final
    // The request's deadline (ai-proxy's `deadline`): no attempt starts once it has passed.
    std::optional<upstream::Clock::time_point> deadline;
};

class AttemptPlan {
public:
    struct Pool {
        const upstream::BalancedSet* set = nullptr;
        upstream::Balancer* balancer = nullptr;
        std::string hash_key;  // chash only
    };

    AttemptPlan(RetryPolicy policy, Pool primary, std::optional<Pool> fallback);

    // The next target, or nullopt when no untried member is left, the attempts are used up or
    // the deadline has passed.
    std::optional<AttemptTarget> next(upstream::Clock::time_point now = upstream::Clock::now());
    // Whether next() stopped, or would stop, because the deadline passed.
    bool deadlineSpent(upstream::Clock::time_point now = upstream::Clock::now()) const {
        return policy_.deadline && now >= *policy_.deadline;
    }

    // Classifies the outcome of the attempt last returned by next().
    Verdict record(const AttemptOutcome& outcome);

    // Whether a status after `elapsed` would be retried if record() were called with it now.
    bool wouldRetry(int status, std::chrono::milliseconds elapsed) const;

    // Whether next() could give a target now (a hedge asks before spending the retry budget).
    bool canSendMore(upstream::Clock::time_point now = upstream::Clock::now()) const {
        return attempts_ < max_attempts_ && !deadlineSpent(now) && hasUntried();
    }

    int attempts() const { return attempts_; }
    bool isRetryableStatus(int status) const;

private:
    bool hasUntried() const;
    bool canRetryAfter(std::chrono::milliseconds elapsed) const;
    static bool anyLeft(const Pool& pool, const std::vector<bool>& tried);
    std::optional<AttemptTarget> pickFrom(Pool& pool, std::vector<bool>& tried, bool fallback,
                                          bool fail_open, upstream::Clock::time_point now);

    RetryPolicy policy_;
    int max_attempts_;
    Pool primary_;
    std::optional<Pool> fallback_;
    std::vector<bool> tried_primary_;
    std::vector<bool> tried_fallback_;
    int attempts_ = 0;
};

}  // namespace aiproxy::ai
