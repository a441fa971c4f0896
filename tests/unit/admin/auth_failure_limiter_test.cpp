// AuthFailureLimiter: per-address failure windows on a fake clock (the caller passes the time).

#include <gtest/gtest.h>

#include <string>

#include "aiproxy/admin/admin_server.hpp"

namespace aiproxy::admin {
namespace {

using namespace std::chrono_literals;
using Clock = AuthFailureLimiter::Clock;

const Clock::time_point kStart = Clock::time_point{} + 1000s;

TEST(AuthFailureLimiterTest, TheFailureThatReachesTheLimitBlocksUntilTheWindowEnds) {
    AuthFailureLimiter limiter{{.max_failures = 3, .window = 60s, .max_tracked = 16}};

    EXPECT_FALSE(limiter.recordFailure("10.0.0.1", kStart));
    EXPECT_FALSE(limiter.recordFailure("10.0.0.1", kStart + 1s));
    EXPECT_EQ(limiter.blockedFor("10.0.0.1", kStart + 1s), 0s);
    EXPECT_TRUE(limiter.recordFailure("10.0.0.1", kStart + 2s));

    // The window counts from the first failure; the wait is rounded up to whole seconds.
    EXPECT_EQ(limiter.blockedFor("10.0.0.1", kStart + 2s), 58s);
    EXPECT_EQ(limiter.blockedFor("10.0.0.1", kStart + 59s + 1ms), 1s);
    EXPECT_EQ(limiter.blockedFor("10.0.0.1", kStart + 60s), 0s);
}

TEST(AuthFailureLimiterTest, OnlyTheFailureThatReachesTheLimitReportsTheBlock) {
    AuthFailureLimiter limiter{{.max_failures = 2, .window = 60s, .max_tracked = 16}};
    EXPECT_FALSE(limiter.recordFailure("a", kStart));
    EXPECT_TRUE(limiter.recordFailure("a", kStart));
    // Further failures while blocked do not log the block again.
    EXPECT_FALSE(limiter.recordFailure("a", kStart + 1s));
    EXPECT_GT(limiter.blockedFor("a", kStart + 1s), 0s);
}

TEST(AuthFailureLimiterTest, AddressesCountApart) {
    AuthFailureLimiter limiter{{.max_failures = 2, .window = 60s, .max_tracked = 16}};
    limiter.recordFailure("10.0.0.1", kStart);
    limiter.recordFailure("10.0.0.1", kStart);
    limiter.recordFailure("10.0.0.2", kStart);

    EXPECT_GT(limiter.blockedFor("10.0.0.1", kStart), 0s);
    EXPECT_EQ(limiter.blockedFor("10.0.0.2", kStart), 0s);
    EXPECT_EQ(limiter.blockedFor("10.0.0.3", kStart), 0s);
}

TEST(AuthFailureLimiterTest, FailuresSpreadOverMoreThanAWindowNeverBlock) {
    AuthFailureLimiter limiter{{.max_failures = 3, .window = 10s, .max_tracked = 16}};
    for (int i = 0; i < 20; ++i) {
        // Two failures per window: the count restarts with each new window.
        auto now = kStart + i * 6s;
        EXPECT_FALSE(limiter.recordFailure("a", now)) << i;
        EXPECT_EQ(limiter.blockedFor("a", now), 0s) << i;
    }
}

TEST(AuthFailureLimiterTest, ExpiredAddressesAreForgotten) {
    AuthFailureLimiter limiter{{.max_failures = 5, .window = 10s, .max_tracked = 16}};
    limiter.recordFailure("a", kStart);
    limiter.recordFailure("b", kStart + 5s);
    EXPECT_EQ(limiter.tracked(), 2U);
    limiter.recordFailure("c", kStart + 12s);  // a's window is over, b's is not
    EXPECT_EQ(limiter.tracked(), 2U);
    limiter.recordFailure("c", kStart + 30s);  // b's and c's first window are over
    EXPECT_EQ(limiter.tracked(), 1U);
}

TEST(AuthFailureLimiterTest, AFloodOfSourcesIsBoundedByDroppingTheOldest) {
    AuthFailureLimiter limiter{{.max_failures = 2, .window = 60s, .max_tracked = 100}};
    limiter.recordFailure("victim", kStart);
    limiter.recordFailure("victim", kStart);
    ASSERT_GT(limiter.blockedFor("victim", kStart), 0s);
    for (int i = 0; i < 1000; ++i)
        limiter.recordFailure("flood-" + std::to_string(i), kStart + 1s);

    EXPECT_EQ(limiter.tracked(), 100U);
    // The oldest window went first to make room.
    EXPECT_EQ(limiter.blockedFor("victim", kStart + 1s), 0s);
}

TEST(AuthFailureLimiterTest, ZeroTrackedAddressesNeverBlocks) {
    AuthFailureLimiter limiter{{.max_failures = 1, .window = 60s, .max_tracked = 0}};
    EXPECT_FALSE(limiter.recordFailure("a", kStart));
    EXPECT_EQ(limiter.blockedFor("a", kStart), 0s);
    EXPECT_EQ(limiter.tracked(), 0U);
}

TEST(AuthFailureLimiterTest, SettingsAreKept) {
    AuthFailureLimiter limiter{{.max_failures = 7, .window = 1500ms, .max_tracked = 3}};
    EXPECT_EQ(limiter.settings().max_failures, 7);
    EXPECT_EQ(limiter.settings().window, 1500ms);
    EXPECT_EQ(limiter.settings().max_tracked, 3U);
    limiter.recordFailure("a", kStart);
    for (int i = 0; i < 6; ++i)
        limiter.recordFailure("a", kStart);
    // 1.5 s rounds up to 2 s of Retry-After.
    EXPECT_EQ(limiter.blockedFor("a", kStart), 2s);
}

}  // namespace
}  // namespace aiproxy::admin
