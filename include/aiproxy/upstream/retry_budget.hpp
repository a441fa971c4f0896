#pragma once
// RetryBudget: how many retries (and hedges) may be sent on behalf of one upstream's recent
// requests (the retry budget of Envoy and Linkerd). Over the last kWindowSeconds, retries stay
// within ratio x requests + min_per_second x kWindowSeconds, so an outage cannot multiply the
// load on the nodes and on the fallback behind them: past the budget a request gets the failure
// it already has. Shared by all workers through atomics; counts that race with a second's
// rollover may be lost, which a budget can afford (it errs by a request or two, never blocks).
//
// Time is passed in, so tests drive it without waiting.

#include <array>
#include <atomic>
#include <cstdint>

#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/node_health.hpp"

namespace aiproxy::upstream {

class RetryBudget {
public:
    static constexpr int kWindowSeconds = 10;

    // A request's first attempt (what the budget is a share of).
    void recordRequest(Clock::time_point now);
    // Takes one retry from the budget: false, taking nothing, when it is spent. Always true
    // when the policy is disabled.
    bool tryRetry(const config::RetryBudgetConfig& policy, Clock::time_point now);

    struct Window {
        std::int64_t requests = 0;
        std::int64_t retries = 0;
    };
    Window window(Clock::time_point now) const;

private:
    struct Bucket {
        std::atomic<std::int64_t> second{-1};
        std::atomic<std::int64_t> requests{0};
        std::atomic<std::int64_t> retries{0};
    };
    static std::int64_t secondOf(Clock::time_point now);
    Bucket& current(std::int64_t second);

    std::array<Bucket, kWindowSeconds> buckets_;
};

}  // namespace aiproxy::upstream
