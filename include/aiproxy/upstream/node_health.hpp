#pragma once
// NodeHealth: the circuit breaker of one node, fed by every worker (passive checks, from real
// traffic) and by the control thread (active probes).
//
// Passive: consecutive failures are counted per kind (connect/TCP errors, timeouts, statuses in
// checks.passive.unhealthy.http_statuses); a success (a status in healthy.http_statuses) resets
// them. Reaching a kind's threshold (0 disables it) ejects the node for `cooldown`, doubled for
// each further ejection of the same streak and capped at `max_cooldown`. When the ejection ends
// the node is half-open: exactly one request may claim the trial (a compare-and-swap, so one
// winner across workers). The trial's success closes the circuit; its failure re-ejects with the
// grown cooldown. The streak (and so the cooldown growth) resets after healthy.successes
// successes in a row once closed, so a node that flaps keeps getting longer breaks. A 429 or 503
// with Retry-After ejects for exactly the delay asked (capped at max_cooldown, never shortening
// a longer ejection) without growing the streak; it also ends in a half-open trial. Reports that
// arrive while the node is ejected come from requests sent before the ejection and are ignored.
//
// Active (checks.active): probe results count separately; unhealthy thresholds mark the node
// unhealthy (not eligible) until healthy.successes probes succeed. A probe success also ends a
// failure-based passive ejection early, into half-open, so a recovered node gets its trial
// request now rather than after the cooldown; a Retry-After ejection is the server's explicit
// wish and runs its course.
//
// The pick path only loads atomics (availability(), tryClaimTrial()); reports take a per-node
// mutex, once per attempt. Time is always passed in, so every timeline is testable.

#include <atomic>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/config/config.hpp"

namespace aiproxy::upstream {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

enum class FailureKind { Tcp, Timeout, Http };

// What a pick may do with a node at a given time.
enum class Availability {
    Up,         // closed circuit, not marked unhealthy by probes
    TrialFree,  // half-open and nobody holds the trial: tryClaimTrial() may win it
    Down,       // ejected, unhealthy, or half-open with the trial taken
};

enum class NodeState { Healthy, Ejected, HalfOpen, Unhealthy };

// "healthy", "ejected", "half_open", "unhealthy": the names the admin endpoint shows.
std::string_view nodeStateName(NodeState state);

// HTTP statuses as a bitmap: membership without a search on every report.
class StatusSet {
public:
    StatusSet() = default;
    explicit StatusSet(const std::vector<int>& statuses);
    bool contains(int status) const {
        return status >= 0 && status < kSize && bits_.test(static_cast<std::size_t>(status));
    }

private:
    static constexpr int kSize = 1000;
    std::bitset<kSize> bits_;
};

// A read-only picture of one node for the admin health endpoint and metrics.
struct NodeHealthView {
    NodeState state = NodeState::Healthy;
    int consecutive_failures = 0;  // passive, all kinds together
    int tcp_failures = 0;
    int timeouts = 0;
    int http_failures = 0;
    int probe_failures = 0;                              // active, all kinds together
    std::optional<WallClock::time_point> ejected_until;  // only while ejected
    std::chrono::milliseconds ejection_remaining{0};     // 0 unless ejected
    std::optional<WallClock::time_point> last_ejected_at;
    std::string last_error;  // empty until something failed
    std::uint64_t ejections = 0;
};

class NodeHealth {
public:
    // A trial whose outcome never arrives (a bug, or a lost report) is given to another request
    // after this long, so a node can never stay half-open with nobody trying it.
    static constexpr std::chrono::seconds kTrialLease{60};

    explicit NodeHealth(config::HealthChecksConfig checks);
    NodeHealth(const NodeHealth&) = delete;
    NodeHealth& operator=(const NodeHealth&) = delete;

    // Pick path: lock-free.
    Availability availability(Clock::time_point now) const;
    // True when the caller won the half-open trial (and must report its outcome, or release it).
    bool tryClaimTrial(Clock::time_point now);
    // Gives an unfinished trial back, so the next pick may try the node.
    void releaseTrial();
    // For metrics (aiproxy_upstream_node_healthy): the node takes traffic without a trial.
    bool healthy(Clock::time_point now) const { return availability(now) == Availability::Up; }
    // For metrics (aiproxy_upstream_node_ejections_total): passive ejections so far.
    std::uint64_t ejections() const { return ejections_.load(std::memory_order_relaxed); }
    bool probeUnhealthy() const { return probe_unhealthy_.load(std::memory_order_relaxed); }

    // Passive reports, from any worker.
    void recordSuccess(Clock::time_point now);
    void recordFailure(FailureKind kind, std::string_view detail, Clock::time_point now);
    // Classifies an upstream status by the passive lists; a 429 or 503 with a positive
    // retry_after ejects for that long instead. Statuses in neither list only end a half-open
    // trial (the node answered), otherwise they change nothing.
    void recordStatus(int status, std::optional<std::chrono::milliseconds> retry_after,
                      Clock::time_point now);

    // Active probe reports, from the control thread.
    void recordProbeSuccess(Clock::time_point now);
    void recordProbeFailure(FailureKind kind, std::string_view detail, Clock::time_point now);
    // Classifies a probe's status by the active lists; statuses in neither list are ignored.
    void recordProbeStatus(int status, Clock::time_point now);

    NodeHealthView view(Clock::time_point now, WallClock::time_point wall_now) const;

private:
    struct Counters {
        int tcp = 0;
        int timeouts = 0;
        int http = 0;
        int& of(FailureKind kind);
        int total() const { return tcp + timeouts + http; }
    };
    enum class Phase { Closed, Ejected, HalfOpen };

    // circuit_ holds kClosed, or the steady-clock nanosecond at which the ejection ends with its
    // lowest bit used as "the half-open trial is taken" (when taken, the time is the claim's).
    static constexpr std::int64_t kClosed = std::numeric_limits<std::int64_t>::min();
    static constexpr std::int64_t kTrialBit = 1;

    static std::int64_t ticks(Clock::time_point time);
    static Phase phaseOf(std::int64_t circuit, std::int64_t now);
    std::chrono::milliseconds cooldown(int streak) const;
    void ejectLocked(std::chrono::milliseconds duration, bool retry_after, Clock::time_point now);
    void closeLocked();
    static int threshold(const config::UnhealthyConfig& unhealthy, FailureKind kind);

    const config::PassiveCheckConfig passive_config_;
    const config::ActiveCheckConfig active_config_;
    const StatusSet passive_ok_statuses_;
    const StatusSet passive_bad_statuses_;
    const StatusSet probe_ok_statuses_;
    const StatusSet probe_bad_statuses_;

    std::atomic<std::int64_t> circuit_{kClosed};
    std::atomic<bool> probe_unhealthy_{false};
    std::atomic<std::uint64_t> ejections_{0};

    mutable std::mutex mutex_;  // guards everything below
    Counters passive_;
    Counters probe_;
    int probe_successes_ = 0;
    int successes_since_close_ = 0;
    int streak_ = 0;  // ejections since the circuit last stayed closed for healthy.successes
    bool retry_after_ejection_ = false;
    std::optional<Clock::time_point> last_ejected_at_;
    std::string last_error_;
};

}  // namespace aiproxy::upstream
