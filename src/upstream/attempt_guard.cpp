#include "aiproxy/upstream/attempt_guard.hpp"

#include <utility>

#include "aiproxy/upstream/retry_after.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::upstream {

AttemptGuard::AttemptGuard(UpstreamRuntime& runtime, std::size_t node, bool trial,
                           Clock::time_point started)
    : node_(&runtime.node(node)), started_(started), trial_(trial) {
    node_->addInFlight(+1);
}

AttemptGuard::AttemptGuard(AttemptGuard&& other) noexcept
    : node_(std::exchange(other.node_, nullptr)),
      started_(other.started_),
      trial_(other.trial_),
      reported_(other.reported_),
      sampled_(other.sampled_) {}

AttemptGuard& AttemptGuard::operator=(AttemptGuard&& other) noexcept {
    if (this != &other) {
        release();
        node_ = std::exchange(other.node_, nullptr);
        started_ = other.started_;
        trial_ = other.trial_;
        reported_ = other.reported_;
        sampled_ = other.sampled_;
    }
    return *this;
}

AttemptGuard::~AttemptGuard() {
    release();
}

void AttemptGuard::release() {
    if (!node_) return;
    if (trial_ && !reported_) node_->health().releaseTrial();
    node_->addInFlight(-1);
    node_ = nullptr;
}

void AttemptGuard::firstByte(Clock::time_point now) {
    if (!node_ || sampled_) return;
    sampled_ = true;
    node_->latency().observe(now - started_, now);
}

void AttemptGuard::sample(Clock::duration latency, Clock::time_point now) {
    if (!node_ || sampled_) return;
    sampled_ = true;
    node_->latency().observe(latency, now);
}

void AttemptGuard::responded(int status, std::string_view retry_after, Clock::time_point now,
                             WallClock::time_point wall_now) {
    if (!node_) return;
    reported_ = true;
    std::optional<std::chrono::milliseconds> delay;
    if (!retry_after.empty()) delay = parseRetryAfter(retry_after, wall_now);
    node_->health().recordStatus(status, delay, now);
}

void AttemptGuard::failed(FailureKind kind, std::string_view detail, Clock::time_point now) {
    if (!node_) return;
    reported_ = true;
    if (kind == FailureKind::Timeout) firstByte(now);
    node_->health().recordFailure(kind, detail, now);
}

}  // namespace aiproxy::upstream
