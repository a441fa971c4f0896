#include "aiproxy/upstream/retry_budget.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;

const auto kStart = Clock::time_point{} + 1000s;

config::RetryBudgetConfig policy(double ratio, double min_per_second) {
    return {.enabled = true, .ratio = ratio, .min_per_second = min_per_second};
}

// Counts the retries the budget grants out of `wanted`, all at `now`.
int granted(RetryBudget& budget, const config::RetryBudgetConfig& p, int wanted,
            Clock::time_point now) {
    int yes = 0;
    for (int i = 0; i < wanted; ++i)
        yes += budget.tryRetry(p, now) ? 1 : 0;
    return yes;
}

TEST(RetryBudgetTest, WithoutRequestsOnlyTheMinimumRateIsGranted) {
    RetryBudget budget;
    // 0.5 per second over the 10 s window: 5 retries.
    EXPECT_EQ(granted(budget, policy(0.2, 0.5), 20, kStart), 5);
}

TEST(RetryBudgetTest, TheRatioOfRecentRequestsAddsToTheMinimum) {
    RetryBudget budget;
    for (int i = 0; i < 100; ++i)
        budget.recordRequest(kStart + std::chrono::milliseconds(i * 50));
    // 0.2 x 100 requests + 1 per second x 10 s.
    EXPECT_EQ(granted(budget, policy(0.2, 1), 100, kStart + 5s), 30);
    EXPECT_EQ(budget.window(kStart + 5s).retries, 30);
}

TEST(RetryBudgetTest, RequestsAndRetriesOlderThanTheWindowNoLongerCount) {
    RetryBudget budget;
    for (int i = 0; i < 50; ++i)
        budget.recordRequest(kStart);
    EXPECT_EQ(granted(budget, policy(0.2, 0), 50, kStart), 10);
    EXPECT_EQ(granted(budget, policy(0.2, 0), 1, kStart + 9s), 0);  // still in the window
    // Ten seconds on, the window has neither the requests nor the retries.
    EXPECT_EQ(budget.window(kStart + 10s).requests, 0);
    EXPECT_EQ(budget.window(kStart + 10s).retries, 0);
    for (int i = 0; i < 10; ++i)
        budget.recordRequest(kStart + 10s);
    EXPECT_EQ(granted(budget, policy(0.2, 0), 5, kStart + 10s), 2);
}

TEST(RetryBudgetTest, ABucketReusedAfterTheWindowStartsEmpty) {
    RetryBudget budget;
    for (int i = 0; i < 40; ++i)
        budget.recordRequest(kStart);
    // The same bucket (second % 10) twenty seconds later: old counts must not leak in.
    budget.recordRequest(kStart + 20s);
    EXPECT_EQ(budget.window(kStart + 20s).requests, 1);
}

TEST(RetryBudgetTest, ADisabledBudgetGrantsEveryRetryAndCountsNone) {
    RetryBudget budget;
    config::RetryBudgetConfig off{.enabled = false};
    EXPECT_EQ(granted(budget, off, 1000, kStart), 1000);
    EXPECT_EQ(budget.window(kStart).retries, 0);
}

TEST(RetryBudgetTest, WorkersSharingOneBudgetNeverExceedItTogether) {
    RetryBudget budget;
    for (int i = 0; i < 1000; ++i)
        budget.recordRequest(kStart);
    std::vector<std::thread> workers;
    std::vector<int> counts(4, 0);
    for (std::size_t w = 0; w < counts.size(); ++w) {
        workers.emplace_back([&, w] { counts[w] = granted(budget, policy(0.1, 0), 500, kStart); });
    }
    for (auto& worker : workers)
        worker.join();
    int total = counts[0] + counts[1] + counts[2] + counts[3];
    // 100 allowed; concurrent checks may each see the last free one, never more than one each.
    EXPECT_GE(total, 100);
    EXPECT_LE(total, 100 + static_cast<int>(counts.size()));
}

}  // namespace
}  // namespace aiproxy::upstream
