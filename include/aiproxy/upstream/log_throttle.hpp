#pragma once
// LogThrottle: the failure lines of one node. During an outage every request fails the same way,
// and a line per request costs every worker a formatted write and buries the one line that says
// what happened. The first failure of an episode (after a quiet interval) is logged at once, then
// at most one line per interval, which says how many were left out. Shared by all workers:
// lock-free, one relaxed compare-and-swap per failure.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace aiproxy::upstream {

class LogThrottle {
public:
    using Clock = std::chrono::steady_clock;

    explicit LogThrottle(Clock::duration interval = std::chrono::seconds(5))
        : interval_(interval) {}

    // nullopt: leave this line out. Otherwise log it, with the count of lines left out since the
    // last one that was logged.
    std::optional<std::uint64_t> admit(Clock::time_point now);

private:
    Clock::duration interval_;
    std::atomic<Clock::rep> next_{0};  // time_since_epoch of the next line allowed
    std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace aiproxy::upstream
