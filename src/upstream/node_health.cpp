#include "aiproxy/upstream/node_health.hpp"

#include <algorithm>

namespace aiproxy::upstream {
namespace {

constexpr std::int64_t kTrialLeaseTicks = std::chrono::nanoseconds{NodeHealth::kTrialLease}.count();

std::string statusText(int status) {
    return "HTTP status " + std::to_string(status);
}

}  // namespace

std::string_view nodeStateName(NodeState state) {
    switch (state) {
        case NodeState::Healthy:
            return "healthy";
        case NodeState::Ejected:
            return "ejected";
        case NodeState::HalfOpen:
            return "half_open";
        case NodeState::Unhealthy:
            return "unhealthy";
    }
    return "healthy";
}

StatusSet::StatusSet(const std::vector<int>& statuses) {
    for (int status : statuses) {
        if (status >= 0 && status < kSize) bits_.set(static_cast<std::size_t>(status));
    }
}

int& NodeHealth::Counters::of(FailureKind kind) {
    switch (kind) {
        case FailureKind::Tcp:
            return tcp;
        case FailureKind::Timeout:
            return timeouts;
        case FailureKind::Http:
            break;
    }
    return http;
}

NodeHealth::NodeHealth(config::HealthChecksConfig checks)
    : passive_config_(std::move(checks.passive)),
      active_config_(checks.active.value_or(config::ActiveCheckConfig{})),
      passive_ok_statuses_(passive_config_.healthy.http_statuses),
      passive_bad_statuses_(passive_config_.unhealthy.http_statuses),
      probe_ok_statuses_(active_config_.healthy.http_statuses),
      probe_bad_statuses_(active_config_.unhealthy.http_statuses) {}

std::int64_t NodeHealth::ticks(Clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

NodeHealth::Phase NodeHealth::phaseOf(std::int64_t circuit, std::int64_t now) {
    if (circuit == kClosed) return Phase::Closed;
    return now < (circuit & ~kTrialBit) ? Phase::Ejected : Phase::HalfOpen;
}

int NodeHealth::threshold(const config::UnhealthyConfig& unhealthy, FailureKind kind) {
    switch (kind) {
        case FailureKind::Tcp:
            return unhealthy.tcp_failures;
        case FailureKind::Timeout:
            return unhealthy.timeouts;
        case FailureKind::Http:
            break;
    }
    return unhealthy.http_failures;
}

Availability NodeHealth::availability(Clock::time_point now) const {
    if (probe_unhealthy_.load(std::memory_order_relaxed)) return Availability::Down;
    std::int64_t circuit = circuit_.load(std::memory_order_acquire);
    if (circuit == kClosed) return Availability::Up;
    std::int64_t until = circuit & ~kTrialBit;
    std::int64_t at = ticks(now);
    if (at < until) return Availability::Down;
    if ((circuit & kTrialBit) != 0) {
        // A taken trial stores its claim time; past the lease it may be claimed again.
        return at - until >= kTrialLeaseTicks ? Availability::TrialFree : Availability::Down;
    }
    return Availability::TrialFree;
}

bool NodeHealth::tryClaimTrial(Clock::time_point now) {
    if (probe_unhealthy_.load(std::memory_order_relaxed)) return false;
    std::int64_t at = ticks(now);
    std::int64_t circuit = circuit_.load(std::memory_order_acquire);
    while (circuit != kClosed) {
        std::int64_t until = circuit & ~kTrialBit;
        if (at < until) return false;
        if ((circuit & kTrialBit) != 0 && at - until < kTrialLeaseTicks) {
            return false;
        }
        if (circuit_.compare_exchange_weak(circuit, (at & ~kTrialBit) | kTrialBit,
                                           std::memory_order_acq_rel)) {
            return true;
        }
    }
    return false;
}

void NodeHealth::releaseTrial() {
    std::int64_t circuit = circuit_.load(std::memory_order_acquire);
    while (circuit != kClosed && (circuit & kTrialBit) != 0) {
        if (circuit_.compare_exchange_weak(circuit, circuit & ~kTrialBit,
                                           std::memory_order_acq_rel)) {
            return;
        }
    }
}

std::chrono::milliseconds NodeHealth::cooldown(int streak) const {
    auto limit = passive_config_.max_cooldown;
    auto duration = passive_config_.cooldown;
    for (int i = 0; i < streak && duration < limit; ++i)
        duration *= 2;
    return std::min(duration, limit);
}

void NodeHealth::ejectLocked(std::chrono::milliseconds duration, bool retry_after,
                             Clock::time_point now) {
    circuit_.store(ticks(now + duration) & ~kTrialBit, std::memory_order_release);
    ejections_.fetch_add(1, std::memory_order_relaxed);
    last_ejected_at_ = now;
    retry_after_ejection_ = retry_after;
    passive_ = {};
    successes_since_close_ = 0;
}

void NodeHealth::closeLocked() {
    circuit_.store(kClosed, std::memory_order_release);
    retry_after_ejection_ = false;
    passive_ = {};
    successes_since_close_ = 0;
}

void NodeHealth::recordSuccess(Clock::time_point now) {
    std::lock_guard lock{mutex_};
    switch (phaseOf(circuit_.load(std::memory_order_relaxed), ticks(now))) {
        case Phase::Ejected:
            return;
        case Phase::HalfOpen:
            closeLocked();
            break;
        case Phase::Closed:
            passive_ = {};
            break;
    }
    if (++successes_since_close_ >= std::max(passive_config_.healthy.successes, 1)) streak_ = 0;
}

void NodeHealth::recordFailure(FailureKind kind, std::string_view detail, Clock::time_point now) {
    std::lock_guard lock{mutex_};
    last_error_.assign(detail);
    switch (phaseOf(circuit_.load(std::memory_order_relaxed), ticks(now))) {
        case Phase::Ejected:
            return;
        case Phase::HalfOpen:
            break;  // the trial failed: eject again, for longer
        case Phase::Closed: {
            int limit = threshold(passive_config_.unhealthy, kind);
            if (limit <= 0 || ++passive_.of(kind) < limit) return;
            break;
        }
    }
    ejectLocked(cooldown(streak_), false, now);
    streak_ = std::min(streak_ + 1, 30);
}

void NodeHealth::recordStatus(int status, std::optional<std::chrono::milliseconds> retry_after,
                              Clock::time_point now) {
    if ((status == 429 || status == 503) && retry_after) {
        auto duration = std::min(*retry_after, passive_config_.max_cooldown);
        if (duration.count() > 0) {
            std::lock_guard lock{mutex_};
            last_error_ = statusText(status) + " with Retry-After " +
                          std::to_string(retry_after->count()) + " ms";
            std::int64_t circuit = circuit_.load(std::memory_order_relaxed);
            bool longer_already = phaseOf(circuit, ticks(now)) == Phase::Ejected &&
                                  (circuit & ~kTrialBit) >= ticks(now + duration);
            if (!longer_already) ejectLocked(duration, true, now);
            return;
        }
    }
    if (passive_bad_statuses_.contains(status)) {
        recordFailure(FailureKind::Http, statusText(status), now);
    } else if (passive_ok_statuses_.contains(status)) {
        recordSuccess(now);
    } else {
        std::lock_guard lock{mutex_};
        if (phaseOf(circuit_.load(std::memory_order_relaxed), ticks(now)) == Phase::HalfOpen) {
            closeLocked();
        }
    }
}

void NodeHealth::recordProbeSuccess(Clock::time_point now) {
    std::lock_guard lock{mutex_};
    probe_ = {};
    ++probe_successes_;
    if (probe_successes_ >= std::max(active_config_.healthy.successes, 1)) {
        probe_unhealthy_.store(false, std::memory_order_relaxed);
    }
    if (!retry_after_ejection_ &&
        phaseOf(circuit_.load(std::memory_order_relaxed), ticks(now)) == Phase::Ejected) {
        circuit_.store(ticks(now) & ~kTrialBit, std::memory_order_release);
    }
}

void NodeHealth::recordProbeFailure(FailureKind kind, std::string_view detail,
                                    Clock::time_point /*now*/) {
    std::lock_guard lock{mutex_};
    last_error_ = "active check: ";
    last_error_ += detail;
    probe_successes_ = 0;
    int limit = threshold(active_config_.unhealthy, kind);
    if (limit > 0 && ++probe_.of(kind) >= limit) {
        probe_unhealthy_.store(true, std::memory_order_relaxed);
    }
}

void NodeHealth::recordProbeStatus(int status, Clock::time_point now) {
    if (probe_bad_statuses_.contains(status)) {
        recordProbeFailure(FailureKind::Http, statusText(status), now);
    } else if (probe_ok_statuses_.contains(status)) {
        recordProbeSuccess(now);
    }
}

NodeHealthView NodeHealth::view(Clock::time_point now, WallClock::time_point wall_now) const {
    std::lock_guard lock{mutex_};
    NodeHealthView view;
    std::int64_t circuit = circuit_.load(std::memory_order_acquire);
    switch (phaseOf(circuit, ticks(now))) {
        case Phase::Closed:
            view.state = NodeState::Healthy;
            break;
        case Phase::Ejected: {
            view.state = NodeState::Ejected;
            auto left = std::chrono::nanoseconds{(circuit & ~kTrialBit) - ticks(now)};
            view.ejection_remaining = std::chrono::ceil<std::chrono::milliseconds>(left);
            view.ejected_until = wall_now + std::chrono::duration_cast<WallClock::duration>(left);
            break;
        }
        case Phase::HalfOpen:
            view.state = NodeState::HalfOpen;
            break;
    }
    if (probe_unhealthy_.load(std::memory_order_relaxed)) view.state = NodeState::Unhealthy;
    view.consecutive_failures = passive_.total();
    view.tcp_failures = passive_.tcp;
    view.timeouts = passive_.timeouts;
    view.http_failures = passive_.http;
    view.probe_failures = probe_.total();
    if (last_ejected_at_) {
        view.last_ejected_at =
            wall_now - std::chrono::duration_cast<WallClock::duration>(now - *last_ejected_at_);
    }
    view.last_error = last_error_;
    view.ejections = ejections_.load(std::memory_order_relaxed);
    return view;
}

}  // namespace aiproxy::upstream
