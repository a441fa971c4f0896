#include "aiproxy/upstream/upstream_runtime.hpp"

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

TEST(UpstreamRuntimeTest, UnchangedNodesAndChecksKeepTheRuntimeAndItsState) {
    auto config = upstream("primary", {node("a"), node("b")});
    auto first = UpstreamRuntime::reuseOrCreate(config, nullptr);
    test::eject(*first, 1, kT0);
    first->node(0).addInFlight(3);

    // Everything else may change: balancer type, timeouts, base path, auth.
    config.type = "least_conn";
    config.base_path = "/v2";
    config.timeout.read = std::chrono::milliseconds{5};
    config.auth.header = {{"Authorization", "Bearer x"}};
    auto second = UpstreamRuntime::reuseOrCreate(config, first);
    EXPECT_EQ(second, first);
    EXPECT_EQ(second->node(1).health().availability(kT0), Availability::Down);
    EXPECT_EQ(second->node(0).inFlight(), 3);
    first->node(0).addInFlight(-3);
}

TEST(UpstreamRuntimeTest, AnyNodeOrCheckChangeGivesAFreshRuntime) {
    auto base = upstream("primary", {node("a"), node("b")});
    auto changes = std::vector<config::UpstreamConfig>(5, base);
    changes[0].nodes[1].weight = 2;
    changes[1].nodes[1].priority = 1;
    changes[2].nodes[1].port = 81;
    changes[3].nodes.push_back(node("c"));
    changes[4].checks.passive.unhealthy.tcp_failures = 9;
    for (const auto& changed : changes) {
        auto before = UpstreamRuntime::reuseOrCreate(base, nullptr);
        test::eject(*before, 0, kT0);
        auto after = UpstreamRuntime::reuseOrCreate(changed, before);
        EXPECT_NE(after, before);
        EXPECT_EQ(after->node(0).health().availability(kT0), Availability::Up);
        EXPECT_EQ(UpstreamRuntime::reuseOrCreate(changed, after), after);
    }
}

TEST(UpstreamRuntimeTest, SharedNodesAreTheOwnersState) {
    auto a = UpstreamRuntime::reuseOrCreate(upstream("a", {node("a", 3, 1)}), nullptr);
    auto b = UpstreamRuntime::reuseOrCreate(upstream("b", {node("b", 1)}), nullptr);
    UpstreamRuntime group{"route", {a->sharedNode(0), b->sharedNode(0)}};
    ASSERT_EQ(group.size(), 2u);
    EXPECT_EQ(group.nodes()[0].weight, 3);
    EXPECT_EQ(group.nodes()[0].priority, 1);
    test::eject(*b, 0, kT0);
    EXPECT_EQ(group.node(1).health().availability(kT0), Availability::Down);
    EXPECT_EQ(&group.node(0), &a->node(0));
}

TEST(UpstreamRuntimeTest, ReportListsEveryNodeForTheHealthEndpoint) {
    auto runtime = UpstreamRuntime::reuseOrCreate(
        upstream("primary", {node("a", 4, 1), node("::1", 1)}), nullptr);
    test::eject(*runtime, 1, kT0);
    auto wall = WallClock::now();
    auto report = runtime->report(kT0, wall);
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
