#include "aiproxy/upstream/retry_budget.hpp"

#include <chrono>

namespace aiproxy::upstream {

std::int64_t RetryBudget::secondOf(Clock::time_point now) {
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

// The bucket of this second, emptied first when it last held an older second. Only the thread
// that moves the bucket's second on empties it.
RetryBudget::Bucket& RetryBudget::current(std::int64_t second) {
    auto& bucket = buckets_[static_cast<std::size_t>(second % kWindowSeconds)];
    auto held = bucket.second.load(std::memory_order_acquire);
    if (held != second && held < second &&
        bucket.second.compare_exchange_strong(held, second, std::memory_order_acq_rel)) {
        bucket.requests.store(0, std::memory_order_relaxed);
        bucket.retries.store(0, std::memory_order_relaxed);
    }
    return bucket;
}

void RetryBudget::recordRequest(Clock::time_point now) {
    current(secondOf(now)).requests.fetch_add(1, std::memory_order_relaxed);
}

RetryBudget::Window RetryBudget::window(Clock::time_point now) const {
    auto second = secondOf(now);
    Window sum;
    for (const auto& bucket : buckets_) {
        auto held = bucket.second.load(std::memory_order_acquire);
        if (held > second - kWindowSeconds && held <= second) {
            sum.requests += bucket.requests.load(std::memory_order_relaxed);
            sum.retries += bucket.retries.load(std::memory_order_relaxed);
        }
    }
    return sum;
}

bool RetryBudget::tryRetry(const config::RetryBudgetConfig& policy, Clock::time_point now) {
    if (!policy.enabled) return true;
    auto seen = window(now);
    double allowed =
        policy.ratio * static_cast<double>(seen.requests) + policy.min_per_second * kWindowSeconds;
    if (static_cast<double>(seen.retries) + 1 > allowed) return false;
    current(secondOf(now)).retries.fetch_add(1, std::memory_order_relaxed);
    return true;
}

}  // namespace aiproxy::upstream
