// LimitStore on a fake clock: fixed windows aligned to their length, the leaky bucket's burst and
// delays, and the memory bound.

#include <gtest/gtest.h>

#include <string>

#include "aiproxy/plugins/limit_store.hpp"
#include "limits_test_support.hpp"

namespace aiproxy::plugins {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

TEST(LimitStoreTest, FixedWindowCountsUpToTheLimitThenRefuses) {
    LimitStore store;
    for (int i = 1; i <= 3; ++i) {
        auto use = store.take("k", 60s, 3, 1, kEpoch + 10s);
        EXPECT_TRUE(use.allowed);
        EXPECT_EQ(use.used, i);
        EXPECT_EQ(use.reset, 50s);
    }
    auto refused = store.take("k", 60s, 3, 1, kEpoch + 59'999ms);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.used, 3);  // a refused request is not counted
    EXPECT_EQ(refused.reset, 1ms);
}

TEST(LimitStoreTest, WindowsAlignToTheirLengthAndStartEmpty) {
    LimitStore store;
    // The first request comes late in its window: the window still ends on the minute.
    EXPECT_EQ(store.take("k", 60s, 1, 1, kEpoch + 45s).reset, 15s);
    EXPECT_FALSE(store.take("k", 60s, 1, 1, kEpoch + 59s).allowed);
    auto next = store.take("k", 60s, 1, 1, kEpoch + 60s);
    EXPECT_TRUE(next.allowed);
    EXPECT_EQ(next.used, 1);
    EXPECT_EQ(next.reset, 60s);
}

TEST(LimitStoreTest, KeysCountApart) {
    LimitStore store;
    EXPECT_TRUE(store.take("a", 60s, 1, 1, kEpoch).allowed);
    EXPECT_TRUE(store.take("b", 60s, 1, 1, kEpoch).allowed);
    EXPECT_FALSE(store.take("a", 60s, 1, 1, kEpoch).allowed);
}

TEST(LimitStoreTest, ReservationsFitTheLimitAndSettleInTheirOwnWindow) {
    LimitStore store;
    // Four reservations of 25 fit a limit of 100; the fifth does not, though the window has
    // never been charged a real token.
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(store.reserve("k", 60s, 100, 25, kEpoch + 1s).allowed);
    auto full = store.reserve("k", 60s, 100, 25, kEpoch + 2s);
    EXPECT_FALSE(full.allowed);
    EXPECT_EQ(full.used, 100);
    EXPECT_EQ(full.start, kEpoch);
    // One request used 5 of its 25: 20 come back, and a new reservation fits.
    EXPECT_TRUE(store.settle("k", 60s, kEpoch, -20, kEpoch + 3s));
    EXPECT_TRUE(store.reserve("k", 60s, 100, 20, kEpoch + 4s).allowed);
    // A settle for a window that has ended changes nothing in the new one.
    EXPECT_FALSE(store.settle("k", 60s, kEpoch, -50, kEpoch + 61s));
    EXPECT_EQ(store.reserve("k", 60s, 100, 0, kEpoch + 62s).used, 0);
}

TEST(LimitStoreTest, AnEmptyWindowAdmitsOneOversizedReservationAndAUsedUpOneNothing) {
    LimitStore store;
    EXPECT_TRUE(store.reserve("k", 60s, 100, 500, kEpoch).allowed);
    EXPECT_FALSE(store.reserve("k", 60s, 100, 1, kEpoch).allowed);
    EXPECT_FALSE(store.reserve("k", 60s, 100, 0, kEpoch).allowed);  // used up: even 0
    // A settle never leaves the window below zero.
    EXPECT_TRUE(store.settle("k", 60s, kEpoch, -1000, kEpoch + 1s));
    EXPECT_EQ(store.reserve("k", 60s, 100, 0, kEpoch + 2s).used, 0);
}

TEST(LimitStoreTest, LeakyBucketDelaysTheBurstAndRefusesBeyondIt) {
    LimitStore store;  // 2 per second, burst 2
    auto first = store.leak("k", 2, 2, kEpoch);
    EXPECT_TRUE(first.allowed);
    EXPECT_EQ(first.delay, 0ms);
    auto second = store.leak("k", 2, 2, kEpoch);
    EXPECT_TRUE(second.allowed);
    EXPECT_EQ(second.delay, 500ms);
    auto third = store.leak("k", 2, 2, kEpoch);
    EXPECT_TRUE(third.allowed);
    EXPECT_EQ(third.delay, 1000ms);
    auto fourth = store.leak("k", 2, 2, kEpoch);
    EXPECT_FALSE(fourth.allowed);
    EXPECT_EQ(fourth.retry_after, 500ms);
    // Half a second later one request has leaked out: one more fits, delayed a full second.
    auto later = store.leak("k", 2, 2, kEpoch + 500ms);
    EXPECT_TRUE(later.allowed);
    EXPECT_EQ(later.delay, 1000ms);
}

TEST(LimitStoreTest, RequestsAtTheRateAreNeverDelayed) {
    LimitStore store;
    for (int i = 0; i < 10; ++i) {
        auto use = store.leak("k", 4, 0, kEpoch + i * 250ms);
        EXPECT_TRUE(use.allowed) << i;
        EXPECT_EQ(use.delay, 0ms) << i;
    }
    EXPECT_FALSE(store.leak("k", 4, 0, kEpoch + 9 * 250ms + 100ms).allowed);
}

TEST(LimitStoreTest, MemoryIsBoundedByEvictingTheLeastRecentlyUsedKey) {
    LimitStore store{100, 1};
    EXPECT_TRUE(store.take("kept", 60s, 1, 1, kEpoch).allowed);
    EXPECT_TRUE(store.take("evicted", 60s, 1, 1, kEpoch).allowed);
    for (int i = 0; i < 1000; ++i) {
        store.take("client-" + std::to_string(i), 60s, 1, 1, kEpoch);
        if (i % 50 == 0) store.take("kept", 60s, 1, 1, kEpoch);  // stays recently used
    }
    EXPECT_LE(store.size(), 100U);
    EXPECT_FALSE(store.take("kept", 60s, 1, 1, kEpoch).allowed);
    EXPECT_TRUE(store.take("evicted", 60s, 1, 1, kEpoch).allowed);  // forgotten: starts afresh
}

TEST(LimitStoreTest, EndedWindowsAreDroppedAsNewKeysArrive) {
    LimitStore store{1000, 1};
    for (int i = 0; i < 10; ++i)
        store.take("old-" + std::to_string(i), 1s, 5, 1, kEpoch);
    for (int i = 0; i < 10; ++i)
        store.take("new-" + std::to_string(i), 1s, 5, 1, kEpoch + 2s);
    EXPECT_EQ(store.size(), 10U);
}

TEST(LimitStoreTest, GatesAreSharedWhileHeldAndForgottenAfter) {
    LimitStore store;
    auto gate = store.gate("route");
    EXPECT_EQ(store.gate("route"), gate);
    EXPECT_NE(store.gate("other"), gate);
    std::weak_ptr<ConcurrencyGate> weak = gate;
    gate.reset();
    EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace aiproxy::plugins
