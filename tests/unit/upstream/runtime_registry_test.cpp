#include "aiproxy/upstream/runtime_registry.hpp"

#include <gtest/gtest.h>

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using test::kT0;
using test::node;

config::UpstreamConfig upstream(std::string id, std::vector<config::NodeConfig> list) {
    auto config = test::upstreamOf(std::move(list));
    config.id = std::move(id);
    return config;
}

TEST(RuntimeRegistryTest, UnchangedNodesAndChecksKeepTheRuntimeAndItsState) {
    RuntimeRegistry registry;
    auto config = upstream("primary", {node("a"), node("b")});
    auto first = registry.obtain(config);
    test::eject(*first, 1, kT0);
    first->node(0).addInFlight(3);

    // Everything else may change: balancer type, timeouts, base path, auth.
    config.type = "least_conn";
    config.base_path = "/v2";
    config.timeout.read = std::chrono::milliseconds{5};
    config.auth.header = {{"Authorization", "Bearer x"}};
    auto second = registry.obtain(config);
    EXPECT_EQ(second, first);
    EXPECT_EQ(second->node(1).health().availability(kT0), Availability::Down);
    EXPECT_EQ(second->node(0).inFlight(), 3);
    first->node(0).addInFlight(-3);
}

TEST(RuntimeRegistryTest, AnyNodeOrCheckChangeGivesAFreshRuntime) {
    RuntimeRegistry registry;
    auto base = upstream("primary", {node("a"), node("b")});
    auto changes = std::vector<config::UpstreamConfig>(5, base);
    changes[0].nodes[1].weight = 2;
    changes[1].nodes[1].priority = 1;
    changes[2].nodes[1].port = 81;
    changes[3].nodes.push_back(node("c"));
    changes[4].checks.passive.unhealthy.tcp_failures = 9;
    for (const auto& changed : changes) {
        auto before = registry.obtain(base);
        test::eject(*before, 0, kT0);
        auto after = registry.obtain(changed);
        EXPECT_NE(after, before);
        EXPECT_EQ(after->node(0).health().availability(kT0), Availability::Up);
        EXPECT_EQ(registry.obtain(changed), after);
    }
}

TEST(RuntimeRegistryTest, RetainForgetsRemovedUpstreams) {
    RuntimeRegistry registry;
    auto kept = upstream("kept", {node("a")});
    auto dropped = upstream("dropped", {node("b")});
    auto held = registry.obtain(dropped);
    registry.obtain(kept);
    registry.retain({kept});
    EXPECT_EQ(registry.size(), 1u);
    EXPECT_NE(registry.find("kept"), nullptr);
    EXPECT_EQ(registry.find("dropped"), nullptr);
    // A worker still holding the old runtime keeps using it safely.
    EXPECT_EQ(held->id(), "dropped");
    EXPECT_NE(registry.obtain(dropped), held);  // back again: fresh state
}

TEST(RuntimeRegistryTest, ReportListsEveryNodeForTheHealthEndpoint) {
    RuntimeRegistry registry;
    auto runtime = registry.obtain(upstream("primary", {node("a", 4, 1), node("::1", 1)}));
    test::eject(*runtime, 1, kT0);
    auto wall = WallClock::now();
    auto report = registry.find("primary")->report(kT0, wall);
    ASSERT_EQ(report.size(), 2u);
    EXPECT_EQ(report[0].address, "a:80");
    EXPECT_EQ(report[0].weight, 4);
    EXPECT_EQ(report[0].priority, 1);
    EXPECT_EQ(report[0].health.state, NodeState::Healthy);
    EXPECT_EQ(report[1].address, "[::1]:80");
    EXPECT_EQ(report[1].health.state, NodeState::Ejected);
    EXPECT_EQ(report[1].health.ejected_until, wall + std::chrono::seconds{5});
    EXPECT_EQ(report[1].health.last_error, "connection refused");
}

}  // namespace
}  // namespace aiproxy::upstream
