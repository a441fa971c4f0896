#include "aiproxy/upstream/attempt_guard.hpp"

#include <gtest/gtest.h>

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;
using test::kT0;

struct GuardTest : ::testing::Test {
    std::shared_ptr<UpstreamRuntime> runtime = test::runtimeOf(test::upstreamOf(test::nodes(2)));
    NodeHealth& health = runtime->node(0).health();
};

TEST_F(GuardTest, CountsTheAttemptInFlightUntilReleased) {
    AttemptGuard guard{*runtime, 0, false, kT0};
    EXPECT_TRUE(guard.active());
    EXPECT_EQ(runtime->node(0).inFlight(), 1);
    AttemptGuard other;
    other = std::move(guard);
    EXPECT_FALSE(guard.active());
    EXPECT_EQ(runtime->node(0).inFlight(), 1);
    other.release();
    other.release();
    EXPECT_EQ(runtime->node(0).inFlight(), 0);
}

TEST_F(GuardTest, AnAbandonedTrialIsGivenBack) {
    test::eject(*runtime, 0, kT0);
    auto balancer = makeBalancer(test::upstreamOf(test::nodes(2)), runtime);
    PickNotes notes;
    ASSERT_EQ(balancer->pick({.excluded = {}, .now = kT0 + 5s, .notes = &notes}), 0u);
    ASSERT_TRUE(notes.trial);
    { AttemptGuard guard{*runtime, 0, notes.trial, kT0 + 5s}; }  // client left, no outcome
    EXPECT_EQ(health.availability(kT0 + 5s), Availability::TrialFree);
}

TEST_F(GuardTest, AReportedTrialIsNotGivenBack) {
    test::eject(*runtime, 0, kT0);
    ASSERT_TRUE(health.tryClaimTrial(kT0 + 5s));
    {
        AttemptGuard guard{*runtime, 0, true, kT0 + 5s};
        guard.failed(FailureKind::Tcp, "connection refused", kT0 + 5s);
    }
    EXPECT_EQ(health.availability(kT0 + 14s), Availability::Down);  // re-ejected for 10 s
    EXPECT_EQ(health.availability(kT0 + 15s), Availability::TrialFree);
}

TEST_F(GuardTest, RespondedParsesRetryAfter) {
    AttemptGuard guard{*runtime, 0, false, kT0};
    guard.responded(429, "3", kT0, WallClock::now());
    EXPECT_EQ(health.availability(kT0 + 2999ms), Availability::Down);
    EXPECT_EQ(health.availability(kT0 + 3s), Availability::TrialFree);

    auto wall = WallClock::time_point{} + std::chrono::hours{300'000};
    AttemptGuard second{*runtime, 1, false, kT0};
    second.responded(503, "Thu, 01 Jan 2004 00:00:10 GMT", kT0,
                     std::chrono::sys_days{std::chrono::year{2004} / 1 / 1});
    EXPECT_EQ(runtime->node(1).health().view(kT0, wall).ejection_remaining, 10s);
}

TEST_F(GuardTest, FirstByteIsOneLatencySample) {
    AttemptGuard guard{*runtime, 0, false, kT0};
    guard.firstByte(kT0 + 250ms);
    guard.firstByte(kT0 + 5s);  // only the first counts
    EXPECT_DOUBLE_EQ(runtime->node(0).latency().seconds(kT0 + 250ms), 0.25);
}

}  // namespace
}  // namespace aiproxy::upstream
