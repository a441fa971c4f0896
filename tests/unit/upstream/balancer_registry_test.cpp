// A worker's balancers survive snapshot swaps while their set keeps its runtime and algorithm,
// so a reload does not restart the round robin; any node change gives a fresh balancer.

#include "aiproxy/upstream/balancer_registry.hpp"

#include <gtest/gtest.h>

#include <set>

#include "aiproxy/upstream/least_conn_balancer.hpp"

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using test::node;

config::UpstreamConfig pool(std::vector<config::NodeConfig> nodes) {
    auto config = test::upstreamOf(std::move(nodes));
    config.id = "pool";
    return config;
}

TEST(BalancerRegistryTest, AnUnchangedSetKeepsItsBalancerAcrossSnapshots) {
    BalancerRegistry registry;
    auto first = std::make_shared<Upstream>(pool({node("a", 4), node("b", 1)}));
    Balancer& balancer = registry.get(first->balancedSet());
    EXPECT_EQ(balancer.pick({.excluded = {}}), 0u);

    // A new snapshot: settings other than nodes and checks changed, the runtime carries over.
    auto changed = pool({node("a", 4), node("b", 1)});
    changed.timeout.read = std::chrono::milliseconds{5};
    auto second = std::make_shared<Upstream>(changed, first->runtime());
    ASSERT_EQ(second->runtime(), first->runtime());
    registry.rebuild({&second->balancedSet()});
    Balancer& again = registry.get(second->balancedSet());
    EXPECT_EQ(&again, &balancer);
    // The smooth sequence goes on where it was (a a b a a), not from its start.
    std::string order;
    for (int i = 0; i < 4; ++i)
        order += again.pick({.excluded = {}}) == 0u ? 'a' : 'b';
    EXPECT_EQ(order, "abaa");
}

TEST(BalancerRegistryTest, NewNodesOrAnotherAlgorithmGiveAFreshBalancer) {
    BalancerRegistry registry;
    auto first = std::make_shared<Upstream>(pool({node("a"), node("b")}));
    registry.get(first->balancedSet());

    auto more =
        std::make_shared<Upstream>(pool({node("a"), node("b"), node("c")}), first->runtime());
    EXPECT_NE(more->runtime(), first->runtime());
    registry.rebuild({&more->balancedSet()});
    std::set<std::size_t> picked;
    for (int i = 0; i < 3; ++i)
        picked.insert(*registry.get(more->balancedSet()).pick({.excluded = {}}));
    EXPECT_EQ(picked, (std::set<std::size_t>{0, 1, 2}));

    auto least = pool({node("a"), node("b"), node("c")});
    least.type = "least_conn";
    auto other = std::make_shared<Upstream>(least, more->runtime());
    EXPECT_EQ(other->runtime(), more->runtime());
    EXPECT_NE(dynamic_cast<LeastConnBalancer*>(&registry.get(other->balancedSet())), nullptr);
}

}  // namespace
}  // namespace aiproxy::upstream
