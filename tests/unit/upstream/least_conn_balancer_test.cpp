#include "aiproxy/upstream/least_conn_balancer.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "aiproxy/upstream/attempt_guard.hpp"
#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using test::kT0;
using test::node;

struct LeastConnFixture {
    explicit LeastConnFixture(std::vector<config::NodeConfig> list, std::uint64_t seed = 7)
        : runtime(test::runtimeOf(test::upstreamOf(std::move(list), "least_conn"))),
          balancer(runtime, seed) {}

    // Picks and keeps the attempt in flight, as a long request would.
    std::size_t pickAndHold() {
        auto picked = balancer.pick({.excluded = {}, .now = kT0});
        EXPECT_TRUE(picked);
        held.emplace_back(*runtime, *picked, false, kT0);
        return *picked;
    }

    std::shared_ptr<UpstreamRuntime> runtime;
    LeastConnBalancer balancer;
    std::deque<AttemptGuard> held;
};

TEST(LeastConnBalancerTest, PicksTheNodeWithFewestInFlight) {
    LeastConnFixture f{{node("a"), node("b"), node("c")}};
    AttemptGuard a1{*f.runtime, 0, false}, a2{*f.runtime, 0, false}, b1{*f.runtime, 1, false};
    EXPECT_EQ(f.balancer.pick({.excluded = {}}), 2u);
    AttemptGuard c1{*f.runtime, 2, false}, c2{*f.runtime, 2, false};
    EXPECT_EQ(f.balancer.pick({.excluded = {}}), 1u);  // a:2 b:1 c:2
}

TEST(LeastConnBalancerTest, InFlightCountsFollowTheGuards) {
    LeastConnFixture f{{node("a"), node("b")}};
    {
        AttemptGuard guard{*f.runtime, 0, false};
        EXPECT_EQ(f.runtime->node(0).inFlight(), 1);
        AttemptGuard moved = std::move(guard);
        EXPECT_EQ(f.runtime->node(0).inFlight(), 1);
        for (int i = 0; i < 20; ++i)
            EXPECT_EQ(f.balancer.pick({.excluded = {}}), 1u);
    }
    EXPECT_EQ(f.runtime->node(0).inFlight(), 0);
}

TEST(LeastConnBalancerTest, HeldRequestsSpreadExactlyByWeight) {
    LeastConnFixture f{{node("a", 3), node("b", 1), node("c", 2)}};
    std::map<std::size_t, int> counts;
    for (int i = 0; i < 600; ++i)
        counts[f.pickAndHold()]++;
    // Each pick goes to the lowest in_flight/weight, so the counts stay in proportion.
    EXPECT_NEAR(counts[0], 300, 1);
    EXPECT_NEAR(counts[1], 100, 1);
    EXPECT_NEAR(counts[2], 200, 1);
}

TEST(LeastConnBalancerTest, SeesTheLoadOfOtherWorkers) {
    auto runtime = test::runtimeOf(test::upstreamOf({node("a"), node("b")}, "least_conn"));
    LeastConnBalancer worker1{runtime, 1};
    LeastConnBalancer worker2{runtime, 2};
    std::deque<AttemptGuard> held;
    for (int i = 0; i < 3; ++i)
        held.emplace_back(*runtime, 0, false);  // worker 1's long requests on a
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(worker2.pick({.excluded = {}}), 1u);
    EXPECT_EQ(worker1.pick({.excluded = {}}), 1u);
}

TEST(LeastConnBalancerTest, IdleTiesAreBrokenAtRandomByWeight) {
    // Nothing in flight: every pick is a tie. Tolerance: 40000 draws, sigma ~0.2 %, allow 1.5 %.
    LeastConnFixture f{{node("a", 3), node("b", 1)}};
    auto counts = test::countPicks(f.balancer, 40'000);
    EXPECT_NEAR(counts[0] / 40'000.0, 0.75, 0.015);
    EXPECT_NEAR(counts[1] / 40'000.0, 0.25, 0.015);

    LeastConnFixture equal{{node("a"), node("b"), node("c")}};
    for (auto [index, count] : test::countPicks(equal.balancer, 30'000))
        EXPECT_NEAR(count / 30'000.0, 1.0 / 3, 0.015) << index;
}

TEST(LeastConnBalancerTest, TheSameSeedGivesTheSameSequence) {
    LeastConnFixture first{{node("a"), node("b"), node("c")}, 99};
    LeastConnFixture second{{node("a"), node("b"), node("c")}, 99};
    for (int i = 0; i < 100; ++i)
        ASSERT_EQ(first.balancer.pick({.excluded = {}}), second.balancer.pick({.excluded = {}}));
}

}  // namespace
}  // namespace aiproxy::upstream
