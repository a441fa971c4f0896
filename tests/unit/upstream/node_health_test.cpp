#include "aiproxy/upstream/node_health.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;
using test::kT0;

config::HealthChecksConfig checks() {
    config::HealthChecksConfig checks;
    checks.passive.cooldown = 5s;
    checks.passive.max_cooldown = 40s;
    checks.passive.healthy.successes = 2;
    checks.passive.unhealthy.tcp_failures = 2;
    checks.passive.unhealthy.timeouts = 3;
    checks.passive.unhealthy.http_failures = 3;
    return checks;
}

const WallClock::time_point kWall = WallClock::time_point{} + std::chrono::hours{400'000};

// Ejects through the tcp threshold at `at`.
void ejectAt(NodeHealth& health, Clock::time_point at) {
    health.recordFailure(FailureKind::Tcp, "connection refused", at);
    health.recordFailure(FailureKind::Tcp, "connection refused", at);
}

// Runs one half-open trial at `at` that fails; the node must have been half-open.
void failTrialAt(NodeHealth& health, Clock::time_point at) {
    ASSERT_TRUE(health.tryClaimTrial(at));
    health.recordFailure(FailureKind::Timeout, "no response", at);
}

TEST(NodeHealthTest, EjectsWhenConsecutiveTcpFailuresReachTheThreshold) {
    NodeHealth health{checks()};
    health.recordFailure(FailureKind::Tcp, "connection refused", kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Up);
    health.recordFailure(FailureKind::Tcp, "connection refused", kT0 + 1s);
    EXPECT_EQ(health.availability(kT0 + 1s), Availability::Down);
    EXPECT_EQ(health.ejections(), 1u);

    auto view = health.view(kT0 + 2s, kWall);
    EXPECT_EQ(view.state, NodeState::Ejected);
    EXPECT_EQ(view.ejection_remaining, 4s);
    EXPECT_EQ(view.ejected_until, kWall + 4s);
    EXPECT_EQ(view.last_ejected_at, kWall - 1s);
    EXPECT_EQ(view.last_error, "connection refused");
    EXPECT_EQ(nodeStateName(view.state), "ejected");
}

TEST(NodeHealthTest, SuccessResetsTheConsecutiveCount) {
    NodeHealth health{checks()};
    health.recordFailure(FailureKind::Tcp, "refused", kT0);
    health.recordSuccess(kT0);
    health.recordFailure(FailureKind::Tcp, "refused", kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Up);
    EXPECT_EQ(health.view(kT0, kWall).consecutive_failures, 1);
}

TEST(NodeHealthTest, EachKindHasItsOwnThresholdAndZeroDisablesIt) {
    auto config = checks();
    config.passive.unhealthy.timeouts = 0;
    NodeHealth health{config};
    for (int i = 0; i < 50; ++i)
        health.recordFailure(FailureKind::Timeout, "timeout", kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Up);
    health.recordFailure(FailureKind::Http, "HTTP status 500", kT0);
    health.recordFailure(FailureKind::Http, "HTTP status 500", kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Up);
    health.recordFailure(FailureKind::Http, "HTTP status 500", kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Down);
}

TEST(NodeHealthTest, StatusesAreClassifiedByThePassiveLists) {
    NodeHealth health{checks()};  // unhealthy statuses by default: 429, 500, 503
    health.recordStatus(500, std::nullopt, kT0);
    health.recordStatus(404, std::nullopt, kT0);  // in neither list: changes nothing
    health.recordStatus(503, std::nullopt, kT0);
    EXPECT_EQ(health.view(kT0, kWall).http_failures, 2);
    health.recordStatus(429, std::nullopt, kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Down);
    EXPECT_EQ(health.view(kT0, kWall).last_error, "HTTP status 429");

    NodeHealth other{checks()};
    other.recordStatus(500, std::nullopt, kT0);
    other.recordStatus(200, std::nullopt, kT0);
    EXPECT_EQ(other.view(kT0, kWall).http_failures, 0);
}

TEST(NodeHealthTest, EjectionEndsInHalfOpenWithExactlyOneTrial) {
    NodeHealth health{checks()};
    ejectAt(health, kT0);
    EXPECT_EQ(health.availability(kT0 + 4999ms), Availability::Down);
    EXPECT_FALSE(health.tryClaimTrial(kT0 + 4999ms));
    EXPECT_EQ(health.availability(kT0 + 5s), Availability::TrialFree);
    EXPECT_EQ(health.view(kT0 + 5s, kWall).state, NodeState::HalfOpen);

    EXPECT_TRUE(health.tryClaimTrial(kT0 + 5s));
    EXPECT_FALSE(health.tryClaimTrial(kT0 + 5s));
    EXPECT_EQ(health.availability(kT0 + 6s), Availability::Down);
    EXPECT_EQ(health.view(kT0 + 6s, kWall).state, NodeState::HalfOpen);
}

TEST(NodeHealthTest, TrialAnsweredWithASuccessOrANeutralStatusClosesTheCircuit) {
    for (int status : {200, 400}) {
        NodeHealth health{checks()};
        ejectAt(health, kT0);
        ASSERT_TRUE(health.tryClaimTrial(kT0 + 5s));
        health.recordStatus(status, std::nullopt, kT0 + 6s);
        EXPECT_EQ(health.availability(kT0 + 6s), Availability::Up) << status;
        EXPECT_EQ(health.view(kT0 + 6s, kWall).state, NodeState::Healthy) << status;
    }
}

TEST(NodeHealthTest, FailedTrialsDoubleTheCooldownUpToTheCap) {
    NodeHealth health{checks()};
    ejectAt(health, kT0);  // 5 s
    auto t = kT0 + 5s;
    for (auto expected : {10s, 20s, 40s, 40s}) {
        failTrialAt(health, t);
        EXPECT_EQ(health.availability(t + expected - 1ms), Availability::Down) << expected.count();
        EXPECT_EQ(health.availability(t + expected), Availability::TrialFree) << expected.count();
        t += expected;
    }
    EXPECT_EQ(health.ejections(), 5u);
}

TEST(NodeHealthTest, StreakResetsOnlyAfterHealthySuccessesInARow) {
    NodeHealth health{checks()};  // healthy.successes = 2
    ejectAt(health, kT0);
    ASSERT_TRUE(health.tryClaimTrial(kT0 + 5s));
    health.recordSuccess(kT0 + 5s);  // closed, one success: the streak remembers
    ejectAt(health, kT0 + 6s);
    EXPECT_EQ(health.availability(kT0 + 6s + 9s), Availability::Down);  // 10 s this time
    EXPECT_EQ(health.availability(kT0 + 6s + 10s), Availability::TrialFree);

    auto t = kT0 + 16s;
    ASSERT_TRUE(health.tryClaimTrial(t));
    health.recordSuccess(t);
    health.recordSuccess(t);  // two in a row: a fresh start
    ejectAt(health, t + 1s);
    EXPECT_EQ(health.availability(t + 1s + 5s), Availability::TrialFree);
}

TEST(NodeHealthTest, ReportsWhileEjectedAreIgnored) {
    NodeHealth health{checks()};
    ejectAt(health, kT0);
    health.recordFailure(FailureKind::Tcp, "late failure", kT0 + 1s);
    health.recordSuccess(kT0 + 2s);
    EXPECT_EQ(health.availability(kT0 + 4s), Availability::Down);
    EXPECT_EQ(health.availability(kT0 + 5s), Availability::TrialFree);
    EXPECT_EQ(health.ejections(), 1u);
}

TEST(NodeHealthTest, RetryAfterEjectsForExactlyThatLong) {
    NodeHealth health{checks()};
    health.recordStatus(429, 2s, kT0);
    EXPECT_EQ(health.availability(kT0 + 1999ms), Availability::Down);
    EXPECT_EQ(health.availability(kT0 + 2s), Availability::TrialFree);
    EXPECT_EQ(health.view(kT0, kWall).last_error, "HTTP status 429 with Retry-After 2000 ms");

    // It does not grow the streak: the next threshold ejection is the base cooldown.
    ASSERT_TRUE(health.tryClaimTrial(kT0 + 2s));
    health.recordSuccess(kT0 + 2s);
    ejectAt(health, kT0 + 3s);
    EXPECT_EQ(health.availability(kT0 + 8s), Availability::TrialFree);
}

TEST(NodeHealthTest, RetryAfterOn503TooButNotOnOtherStatuses) {
    NodeHealth health{checks()};
    health.recordStatus(503, 3s, kT0);
    EXPECT_EQ(health.view(kT0, kWall).ejection_remaining, 3s);

    NodeHealth other{checks()};
    other.recordStatus(500, 3s, kT0);
    EXPECT_EQ(other.availability(kT0), Availability::Up);
}

TEST(NodeHealthTest, RetryAfterIsCappedAndNeverShortensALongerEjection) {
    NodeHealth health{checks()};  // max_cooldown 40 s
    health.recordStatus(429, std::chrono::hours{24}, kT0);
    EXPECT_EQ(health.view(kT0, kWall).ejection_remaining, 40s);
    health.recordStatus(429, 1s, kT0 + 1s);
    EXPECT_EQ(health.availability(kT0 + 39s), Availability::Down);
    health.recordStatus(503, 30s, kT0 + 20s);  // longer than what is left: extends
    EXPECT_EQ(health.availability(kT0 + 49s), Availability::Down);
    EXPECT_EQ(health.availability(kT0 + 50s), Availability::TrialFree);
}

TEST(NodeHealthTest, ZeroRetryAfterCountsAsAnOrdinaryStatus) {
    NodeHealth health{checks()};
    health.recordStatus(429, 0s, kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Up);
    EXPECT_EQ(health.view(kT0, kWall).http_failures, 1);
}

TEST(NodeHealthTest, ReleasedTrialCanBeClaimedAgain) {
    NodeHealth health{checks()};
    ejectAt(health, kT0);
    ASSERT_TRUE(health.tryClaimTrial(kT0 + 5s));
    health.releaseTrial();
    EXPECT_EQ(health.availability(kT0 + 5s), Availability::TrialFree);
    EXPECT_TRUE(health.tryClaimTrial(kT0 + 5s));
}

TEST(NodeHealthTest, ALostTrialIsReclaimableAfterTheLease) {
    NodeHealth health{checks()};
    ejectAt(health, kT0);
    ASSERT_TRUE(health.tryClaimTrial(kT0 + 5s));
    auto lease_end = kT0 + 5s + NodeHealth::kTrialLease;
    EXPECT_EQ(health.availability(lease_end - 1ms), Availability::Down);
    EXPECT_EQ(health.availability(lease_end), Availability::TrialFree);
    EXPECT_TRUE(health.tryClaimTrial(lease_end));
    EXPECT_FALSE(health.tryClaimTrial(lease_end + 1s));
}

TEST(NodeHealthTest, ConcurrentClaimsHaveExactlyOneWinner) {
    constexpr int kThreads = 8;
    for (int round = 0; round < 50; ++round) {
        NodeHealth health{checks()};
        ejectAt(health, kT0);
        std::atomic<int> winners{0};
        std::latch start{kThreads};
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i) {
            threads.emplace_back([&] {
                start.arrive_and_wait();
                if (health.tryClaimTrial(kT0 + 5s)) winners++;
            });
        }
        for (auto& thread : threads)
            thread.join();
        ASSERT_EQ(winners.load(), 1) << "round " << round;
    }
}

config::HealthChecksConfig activeChecks() {
    auto config = checks();
    config.active = config::ActiveCheckConfig{};
    config.active->healthy.successes = 2;
    config.active->unhealthy.tcp_failures = 2;
    config.active->unhealthy.http_failures = 3;
    return config;
}

TEST(NodeHealthTest, ProbeFailuresMarkUnhealthyUntilEnoughSuccesses) {
    NodeHealth health{activeChecks()};
    health.recordProbeFailure(FailureKind::Tcp, "connect failed", kT0);
    EXPECT_FALSE(health.probeUnhealthy());
    health.recordProbeFailure(FailureKind::Tcp, "connect failed", kT0);
    EXPECT_TRUE(health.probeUnhealthy());
    EXPECT_EQ(health.availability(kT0), Availability::Down);
    auto view = health.view(kT0, kWall);
    EXPECT_EQ(view.state, NodeState::Unhealthy);
    EXPECT_EQ(view.probe_failures, 2);
    EXPECT_EQ(view.last_error, "active check: connect failed");

    health.recordProbeSuccess(kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Down);
    health.recordProbeSuccess(kT0);
    EXPECT_EQ(health.availability(kT0), Availability::Up);
}

TEST(NodeHealthTest, ProbeStatusesAreClassifiedByTheActiveLists) {
    NodeHealth health{activeChecks()};  // healthy: 200, 302; unhealthy: 429, 404, 5xx
    health.recordProbeStatus(404, kT0);
    health.recordProbeStatus(301, kT0);  // in neither list: ignored
    health.recordProbeStatus(500, kT0);
    EXPECT_FALSE(health.probeUnhealthy());
    health.recordProbeStatus(502, kT0);
    EXPECT_TRUE(health.probeUnhealthy());
    health.recordProbeStatus(200, kT0);
    health.recordProbeStatus(302, kT0);
    EXPECT_FALSE(health.probeUnhealthy());
}

TEST(NodeHealthTest, ProbeSuccessEndsAPassiveEjectionIntoHalfOpen) {
    NodeHealth health{activeChecks()};
    ejectAt(health, kT0);
    health.recordProbeSuccess(kT0 + 1s);
    EXPECT_EQ(health.availability(kT0 + 1s), Availability::TrialFree);
}

TEST(NodeHealthTest, ProbeSuccessDoesNotCutARetryAfterShort) {
    NodeHealth health{activeChecks()};
    health.recordStatus(429, 10s, kT0);
    health.recordProbeSuccess(kT0 + 1s);
    EXPECT_EQ(health.availability(kT0 + 1s), Availability::Down);
    EXPECT_EQ(health.availability(kT0 + 10s), Availability::TrialFree);
}

}  // namespace
}  // namespace aiproxy::upstream
