#include "aiproxy/ai/attempt_plan.hpp"

#include <gtest/gtest.h>

#include "aiproxy/upstream/node_health.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::ai {
namespace {

const std::vector<int> kRetryOn{429, 500, 502, 503, 504};

using namespace std::chrono_literals;

struct Pools {
    upstream::Upstream primary;
    upstream::Upstream fallback;
    std::unique_ptr<upstream::Balancer> primary_balancer;
    std::unique_ptr<upstream::Balancer> fallback_balancer;

    Pools(std::vector<int> primary_weights, std::vector<int> fallback_weights)
        : primary(makeConfig("primary", primary_weights)),
          fallback(makeConfig("fallback", fallback_weights)),
          primary_balancer(upstream::makeBalancer(primary.config(), primary.runtime())),
          fallback_balancer(upstream::makeBalancer(fallback.config(), fallback.runtime())) {}

    static config::UpstreamConfig makeConfig(std::string id, const std::vector<int>& weights) {
        config::UpstreamConfig upstream{.id = std::move(id)};
        for (std::size_t i = 0; i < weights.size(); ++i) {
            upstream.nodes.push_back(
                {.host = "10.0.0." + std::to_string(i + 1), .port = 80, .weight = weights[i]});
        }
        return upstream;
    }

    AttemptPlan plan(int retry, bool with_fallback = true, RetryPolicy policy = {}) {
        std::optional<AttemptPlan::Pool> fb;
        if (with_fallback) {
            fb = AttemptPlan::Pool{&fallback.balancedSet(), fallback_balancer.get()};
        }
        policy.retry = retry;
        policy.retry_on = kRetryOn;
        return AttemptPlan{policy, {&primary.balancedSet(), primary_balancer.get()}, fb};
    }

    // Ejects node i of an upstream (passive TCP failures up to the threshold).
    static void eject(upstream::Upstream& upstream, std::size_t i) {
        auto& health = upstream.runtime()->node(i).health();
        auto now = upstream::Clock::now();
        for (int n = 0; n < 10 && health.availability(now) == upstream::Availability::Up; ++n)
            health.recordFailure(upstream::FailureKind::Tcp, "connection refused", now);
    }
};

std::string describe(const std::optional<AttemptTarget>& target) {
    if (!target) return "none";
    return target->upstream->id() + "#" + std::to_string(target->node);
}

TEST(AttemptPlanTest, FirstAttemptGoesToThePrimary) {
    Pools pools{{1}, {1}};
    auto plan = pools.plan(1);
    EXPECT_EQ(describe(plan.next()), "primary#0");
    EXPECT_EQ(plan.attempts(), 1);
}

TEST(AttemptPlanTest, SecondAttemptGoesToFallbackWhenPrimaryHasOneNode) {
    Pools pools{{1}, {1}};
    auto plan = pools.plan(1);
    plan.next();
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Retry);
    auto second = plan.next();
    EXPECT_EQ(describe(second), "fallback#0");
    EXPECT_TRUE(second->fallback);
}

TEST(AttemptPlanTest, RetriesOnOtherNodeBeforeFallback) {
    Pools pools{{1, 1}, {1}};
    auto plan = pools.plan(2);
    EXPECT_EQ(describe(plan.next()), "primary#0");
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Retry);
    EXPECT_EQ(describe(plan.next()), "primary#1");
    EXPECT_EQ(plan.record({.failure = Failure::Timeout}), Verdict::Retry);
    EXPECT_EQ(describe(plan.next()), "fallback#0");
    EXPECT_EQ(plan.record({.failure = Failure::Reset}), Verdict::Done);
    EXPECT_EQ(describe(plan.next()), "none");
}

TEST(AttemptPlanTest, RetryBudgetLimitsAttemptsEvenWithNodesLeft) {
    Pools pools{{1, 1, 1}, {1}};
    auto plan = pools.plan(1);
    plan.next();
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Retry);
    EXPECT_EQ(describe(plan.next()), "primary#1");
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Done);
    EXPECT_EQ(describe(plan.next()), "none");
}

TEST(AttemptPlanTest, RetryZeroNeverRetries) {
    Pools pools{{1, 1}, {1}};
    auto plan = pools.plan(0);
    plan.next();
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Done);
    EXPECT_FALSE(plan.wouldRetry(503, 0ms));
}

TEST(AttemptPlanTest, RetryableStatusesRetryAndOthersAreFinal) {
    Pools pools{{1}, {1}};
    for (int status : kRetryOn) {
        auto plan = pools.plan(1);
        plan.next();
        EXPECT_TRUE(plan.wouldRetry(status, 0ms)) << status;
        EXPECT_EQ(plan.record({.failure = Failure::Status, .status = status}), Verdict::Retry);
    }
    for (int status : {200, 400, 401, 403, 404, 422, 501}) {
        auto plan = pools.plan(1);
        plan.next();
        EXPECT_FALSE(plan.wouldRetry(status, 0ms)) << status;
        EXPECT_EQ(plan.record({.failure = Failure::None, .status = status}), Verdict::Done);
    }
}

TEST(AttemptPlanTest, LastAttemptWithRetryableStatusIsRelayed) {
    Pools pools{{1}, {1}};
    auto plan = pools.plan(1);
    plan.next();
    plan.record({.failure = Failure::Status, .status = 503});
    plan.next();
    EXPECT_FALSE(plan.wouldRetry(503, 0ms));
    EXPECT_EQ(plan.record({.failure = Failure::Status, .status = 503}), Verdict::Done);
}

TEST(AttemptPlanTest, WithoutFallbackRetriesStopWhenPrimaryIsExhausted) {
    Pools pools{{1}, {1}};
    auto plan = pools.plan(3, /*with_fallback=*/false);
    plan.next();
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Done);
    EXPECT_EQ(describe(plan.next()), "none");
}

TEST(AttemptPlanTest, ZeroWeightPrimaryGoesStraightToFallback) {
    Pools pools{{0}, {1}};
    auto plan = pools.plan(1);
    EXPECT_EQ(describe(plan.next()), "fallback#0");
}

TEST(AttemptPlanTest, FallbackNodesAreAllTriedWhenBudgetAllows) {
    Pools pools{{1}, {1, 1}};
    auto plan = pools.plan(5);
    plan.next();
    plan.record({.failure = Failure::Connect});
    EXPECT_EQ(describe(plan.next()), "fallback#0");
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Retry);
    EXPECT_EQ(describe(plan.next()), "fallback#1");
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Done);
}

TEST(AttemptPlanTest, BalancerOrderIsKeptAcrossRequests) {
    Pools pools{{1, 1}, {1}};
    auto first = pools.plan(1);
    auto second = pools.plan(1);
    EXPECT_EQ(describe(first.next()), "primary#0");
    EXPECT_EQ(describe(second.next()), "primary#1");
}

TEST(AttemptPlanTest, EjectedPrimaryGoesStraightToAHealthyFallback) {
    Pools pools{{1}, {1}};
    Pools::eject(pools.primary, 0);
    auto plan = pools.plan(1);
    auto first = plan.next();
    EXPECT_EQ(describe(first), "fallback#0");
    EXPECT_FALSE(first->notes.failed_open);
    // The fallback failed too: the ejected primary still gets its turn.
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Retry);
    auto second = plan.next();
    EXPECT_EQ(describe(second), "primary#0");
    EXPECT_TRUE(second->notes.failed_open);
}

TEST(AttemptPlanTest, EverythingEjectedFailsOpenPrimaryFirst) {
    Pools pools{{1}, {1}};
    Pools::eject(pools.primary, 0);
    Pools::eject(pools.fallback, 0);
    auto plan = pools.plan(1);
    auto first = plan.next();
    EXPECT_EQ(describe(first), "primary#0");
    EXPECT_TRUE(first->notes.failed_open);
    plan.record({.failure = Failure::Connect});
    EXPECT_EQ(describe(plan.next()), "fallback#0");
}

TEST(AttemptPlanTest, FailuresAreFinalWhenThePolicySaysSo) {
    Pools pools{{1, 1}, {1}};
    auto plan = pools.plan(3, true, {.retry_failures = false});
    plan.next();
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Done);
    EXPECT_EQ(plan.record({.failure = Failure::Status, .status = 503}), Verdict::Retry);
}

TEST(AttemptPlanTest, SlowFailuresAreFinalUnderOnlyWithin) {
    Pools pools{{1, 1}, {1}};
    auto plan = pools.plan(3, true, {.only_within = 100ms});
    plan.next();
    EXPECT_TRUE(plan.wouldRetry(503, 100ms));
    EXPECT_FALSE(plan.wouldRetry(503, 101ms));
    EXPECT_EQ(plan.record({.failure = Failure::Timeout, .elapsed = 250ms}), Verdict::Done);
    EXPECT_EQ(plan.record({.failure = Failure::Connect, .elapsed = 3ms}), Verdict::Retry);
}

}  // namespace
}  // namespace aiproxy::ai

namespace aiproxy::ai {
namespace {

TEST(AttemptPlanDeadlineTest, NoAttemptStartsOnceTheDeadlineHasPassed) {
    Pools pools({1, 1, 1}, {1});
    auto now = upstream::Clock::now();
    RetryPolicy policy{.deadline = now + 100ms};
    auto plan = pools.plan(3, true, policy);
    ASSERT_TRUE(plan.next(now).has_value());
    EXPECT_EQ(plan.record({.failure = Failure::Timeout}), Verdict::Retry);
    EXPECT_FALSE(plan.deadlineSpent(now + 99ms));
    ASSERT_TRUE(plan.next(now + 99ms).has_value());
    EXPECT_TRUE(plan.deadlineSpent(now + 100ms));
    EXPECT_FALSE(plan.next(now + 100ms).has_value());
    EXPECT_EQ(plan.attempts(), 2);
}

TEST(AttemptPlanDeadlineTest, WithoutADeadlineOnlyTheRetriesBound) {
    Pools pools({1, 1}, {});
    auto plan = pools.plan(1, false);
    auto later = upstream::Clock::now() + std::chrono::hours(24);
    EXPECT_FALSE(plan.deadlineSpent(later));
    EXPECT_TRUE(plan.next(later).has_value());
}

}  // namespace
}  // namespace aiproxy::ai
