#include <gtest/gtest.h>

#include "aiproxy/upstream/chash_balancer.hpp"
#include "aiproxy/upstream/ewma_balancer.hpp"
#include "aiproxy/upstream/least_conn_balancer.hpp"
#include "aiproxy/upstream/round_robin_balancer.hpp"
#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using test::node;

TEST(MakeBalancerTest, TheUpstreamTypeChoosesTheAlgorithm) {
    auto make = [](std::string type) {
        return makeBalancer(test::upstreamOf(test::nodes(2), std::move(type)));
    };
    EXPECT_NE(dynamic_cast<RoundRobinBalancer*>(make("roundrobin").get()), nullptr);
    EXPECT_NE(dynamic_cast<LeastConnBalancer*>(make("least_conn").get()), nullptr);
    EXPECT_NE(dynamic_cast<ChashBalancer*>(make("chash").get()), nullptr);
    EXPECT_NE(dynamic_cast<EwmaBalancer*>(make("ewma").get()), nullptr);
}

TEST(MakeBalancerTest, RoundRobinOnASharedRuntimeIsExact) {
    auto upstream = test::upstreamOf({node("a", 4), node("b", 1)});
    auto runtime = test::runtimeOf(upstream);
    auto balancer = makeBalancer(upstream, runtime);
    std::string picks;
    for (int i = 0; i < 10; ++i)
        picks += static_cast<char>('A' + *balancer->pick({.excluded = {}}));
    EXPECT_EQ(picks, "AABAAAABAA");
}

TEST(MakeBalancerTest, RoundRobinStaysExactAcrossAShortEjection) {
    auto upstream = test::upstreamOf({node("a", 2), node("b", 1), node("c", 1)});
    auto runtime = test::runtimeOf(upstream);
    auto balancer = makeBalancer(upstream, runtime);
    auto t = test::kT0;
    test::countPicks(*balancer, 40, {}, t);  // ten whole rounds: every score back at zero
    test::eject(*runtime, 2, t);
    auto during = test::countPicks(*balancer, 30, {}, t);
    EXPECT_EQ(during, (std::map<long, int>{{0, 20}, {1, 10}}));
    runtime->node(2).health().recordProbeSuccess(t);  // half-open: c's trial comes first
    runtime->node(2).health().recordSuccess(t);
    auto after = test::countPicks(*balancer, 40, {}, t);
    EXPECT_EQ(after, (std::map<long, int>{{0, 20}, {1, 10}, {2, 10}}));
}

}  // namespace
}  // namespace aiproxy::upstream
