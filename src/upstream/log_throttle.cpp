#include "aiproxy/upstream/log_throttle.hpp"

namespace aiproxy::upstream {

std::optional<std::uint64_t> LogThrottle::admit(Clock::time_point now) {
    auto ticks = now.time_since_epoch().count();
    auto next = next_.load(std::memory_order_relaxed);
    if (ticks < next || !next_.compare_exchange_strong(next, ticks + interval_.count(),
                                                       std::memory_order_relaxed)) {
        suppressed_.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
    }
    return suppressed_.exchange(0, std::memory_order_relaxed);
}

}  // namespace aiproxy::upstream
