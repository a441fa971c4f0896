#pragma once
// AttemptPlan: the retry and fallback decision for one request, as a pure value-in value-out
// class (ARCHITECTURE.md section 4.5). The I/O coroutine asks next() for a target, performs the
// attempt, and reports the outcome to record(), which says whether to try again.
// Order: the primary balancer's pick first; each retry goes to a primary node not yet tried;
// when none is left, to the fallback upstream's untried nodes. Policy (retry count, retryable
// statuses) comes from the route; state (what was tried) lives here and dies with the request.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace aiproxy::upstream {
class Upstream;
class Balancer;
}  // namespace aiproxy::upstream

namespace aiproxy::ai {

struct AttemptTarget {
    const upstream::Upstream* upstream = nullptr;
    std::size_t node = 0;
    bool fallback = false;
};

enum class Failure {
    None,     // the upstream answered with a status that is not retried: relay it
    Connect,  // DNS, TCP connect or TLS handshake failed
    Timeout,  // no response header (or first body byte) within the attempt's time
    Reset,    // connection closed or garbage before the commit point
    Status,   // the upstream answered with a status in retry_on
};

struct AttemptOutcome {
    Failure failure = Failure::None;
    int status = 0;  // for Failure::Status and Failure::None
    // Feedback for balancers and health: time to the first response byte, and the upstream's
    // Retry-After header (empty when absent) on a 429 or 503.
    std::optional<double> ttfb_seconds;
    std::string retry_after;
};

enum class Verdict { Retry, Done };

class AttemptPlan {
public:
    struct Pool {
        const upstream::Upstream* upstream = nullptr;
        upstream::Balancer* balancer = nullptr;
    };

    // retry_on must outlive the plan (it lives in the route's compiled config).
    AttemptPlan(int retry, std::span<const int> retry_on, Pool primary,
                std::optional<Pool> fallback);

    // The next target, or nullopt when no untried node is left.
    std::optional<AttemptTarget> next();

    // Classifies the outcome of the attempt last returned by next().
    Verdict record(const AttemptOutcome& outcome);

    // Whether a status would be retried if record() were called with it now.
    bool wouldRetry(int status) const;

    int attempts() const { return attempts_; }
    bool isRetryableStatus(int status) const;

private:
    bool hasUntried() const;
    static bool anyLeft(const Pool& pool, const std::vector<bool>& tried);

    int max_attempts_;
    std::span<const int> retry_on_;
    Pool primary_;
    std::optional<Pool> fallback_;
    std::vector<bool> tried_primary_;
    std::vector<bool> tried_fallback_;
    int attempts_ = 0;
};

}  // namespace aiproxy::ai
