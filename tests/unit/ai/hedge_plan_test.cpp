#include "aiproxy/ai/hedge_plan.hpp"

#include <gtest/gtest.h>

#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::ai {
namespace {

using namespace std::chrono_literals;
using Clock = upstream::Clock;

const std::vector<int> kRetryOn{429, 500, 502, 503, 504};

TEST(HedgePlanTest, NothingIsDueBeforeTheFirstAttemptIsSent) {
    HedgePlan hedges{{.after = 200ms, .max = 1}};
    EXPECT_FALSE(hedges.dueAt());
    EXPECT_FALSE(hedges.due(Clock::now(), 1));
}

TEST(HedgePlanTest, DueAfterMsAfterTheFirstAttempt) {
    HedgePlan hedges{{.after = 200ms, .max = 1}};
    auto t0 = Clock::now();
    hedges.attemptSent(t0);
    EXPECT_EQ(hedges.dueAt(), t0 + 200ms);
    EXPECT_FALSE(hedges.due(t0 + 199ms, 1));
    EXPECT_TRUE(hedges.due(t0 + 200ms, 1));
}

TEST(HedgePlanTest, NoHedgeWhenNothingIsInFlight) {
    HedgePlan hedges{{.after = 200ms, .max = 1}};
    auto t0 = Clock::now();
    hedges.attemptSent(t0);
    // The first attempt failed: retrying is the attempt plan's decision, not a hedge.
    EXPECT_FALSE(hedges.due(t0 + 1s, 0));
}

TEST(HedgePlanTest, MaxOneSendsOneHedgePerRequest) {
    HedgePlan hedges{{.after = 200ms, .max = 1}};
    auto t0 = Clock::now();
    hedges.attemptSent(t0);
    hedges.hedgeSent(t0 + 200ms);
    EXPECT_EQ(hedges.sent(), 1);
    EXPECT_FALSE(hedges.dueAt());
    EXPECT_FALSE(hedges.due(t0 + 10s, 2));
    // A retry after both failed is not hedged again: the request's hedge is spent.
    hedges.attemptSent(t0 + 1s);
    EXPECT_FALSE(hedges.due(t0 + 10s, 1));
}

TEST(HedgePlanTest, FurtherHedgesAreSpacedFromTheLastOne) {
    HedgePlan hedges{{.after = 100ms, .max = 2}};
    auto t0 = Clock::now();
    hedges.attemptSent(t0);
    hedges.hedgeSent(t0 + 100ms);
    EXPECT_EQ(hedges.dueAt(), t0 + 200ms);
    EXPECT_FALSE(hedges.due(t0 + 150ms, 2));
    EXPECT_TRUE(hedges.due(t0 + 200ms, 2));
    hedges.hedgeSent(t0 + 200ms);
    EXPECT_FALSE(hedges.dueAt());
}

TEST(HedgePlanTest, ARetryRestartsTheWait) {
    HedgePlan hedges{{.after = 100ms, .max = 1}};
    auto t0 = Clock::now();
    hedges.attemptSent(t0);
    hedges.attemptSent(t0 + 50ms);  // the first failed fast; its retry went out
    EXPECT_FALSE(hedges.due(t0 + 120ms, 1));
    EXPECT_TRUE(hedges.due(t0 + 150ms, 1));
}

TEST(HedgePlanTest, StoppedWhenNoHedgeCouldGoOut) {
    HedgePlan hedges{{.after = 100ms, .max = 3}};
    auto t0 = Clock::now();
    hedges.attemptSent(t0);
    hedges.stop();  // no node left, or the retry budget is spent
    EXPECT_FALSE(hedges.dueAt());
    EXPECT_FALSE(hedges.due(t0 + 1s, 1));
}

TEST(HedgeStatusTest, RetryableStatusIsPassedOverWhileAnotherAttemptRaces) {
    // No retry left, but the hedge may still answer: keep the 503 in reserve.
    EXPECT_TRUE(passesOverStatus(true, false, true));
    EXPECT_TRUE(passesOverStatus(true, true, false));
    // Nothing else can answer: the 503 is the answer.
    EXPECT_FALSE(passesOverStatus(true, false, false));
    // A status outside retry_on is an answer, whoever is still racing.
    EXPECT_FALSE(passesOverStatus(false, true, true));
}

config::UpstreamConfig upstreamOf(std::string id, int nodes) {
    config::UpstreamConfig upstream{.id = std::move(id)};
    for (int i = 0; i < nodes; ++i) {
        upstream.nodes.push_back(
            {.host = "10.0.0." + std::to_string(i + 1), .port = 80, .weight = 1});
    }
    return upstream;
}

TEST(HedgeTargetTest, AHedgeNeverGoesToTheNodeInFlight) {
    upstream::Upstream primary{upstreamOf("primary", 2)};
    auto balancer = upstream::makeBalancer(primary.config(), primary.runtime());
    AttemptPlan plan{
        {.retry = 3, .retry_on = kRetryOn}, {&primary.balancedSet(), balancer.get()}, std::nullopt};
    auto first = plan.next();
    ASSERT_TRUE(first);
    ASSERT_TRUE(plan.canSendMore());
    auto hedge = plan.next();
    ASSERT_TRUE(hedge);
    EXPECT_NE(hedge->node, first->node);
    // Both nodes are in use: no candidate for a second hedge, whatever retry allows.
    EXPECT_FALSE(plan.canSendMore());
    EXPECT_FALSE(plan.next());
}

TEST(HedgeTargetTest, SingleNodeUpstreamHasNoHedgeCandidate) {
    upstream::Upstream primary{upstreamOf("primary", 1)};
    auto balancer = upstream::makeBalancer(primary.config(), primary.runtime());
    AttemptPlan plan{
        {.retry = 2, .retry_on = kRetryOn}, {&primary.balancedSet(), balancer.get()}, std::nullopt};
    ASSERT_TRUE(plan.next());
    EXPECT_FALSE(plan.canSendMore());
}

TEST(HedgeTargetTest, TheHedgeCountsAgainstRetry) {
    upstream::Upstream primary{upstreamOf("primary", 3)};
    auto balancer = upstream::makeBalancer(primary.config(), primary.runtime());
    AttemptPlan plan{
        {.retry = 1, .retry_on = kRetryOn}, {&primary.balancedSet(), balancer.get()}, std::nullopt};
    ASSERT_TRUE(plan.next());
    ASSERT_TRUE(plan.next());  // the hedge
    EXPECT_EQ(plan.attempts(), 2);
    // Both failed: retry 1 is used up by the hedge.
    EXPECT_EQ(plan.record({.failure = Failure::Connect}), Verdict::Done);
    EXPECT_FALSE(plan.canSendMore());
}

TEST(HedgeTargetTest, NoHedgeWhenRetryIsZero) {
    upstream::Upstream primary{upstreamOf("primary", 2)};
    auto balancer = upstream::makeBalancer(primary.config(), primary.runtime());
    AttemptPlan plan{
        {.retry = 0, .retry_on = kRetryOn}, {&primary.balancedSet(), balancer.get()}, std::nullopt};
    ASSERT_TRUE(plan.next());
    EXPECT_FALSE(plan.canSendMore());
}

}  // namespace
}  // namespace aiproxy::ai
