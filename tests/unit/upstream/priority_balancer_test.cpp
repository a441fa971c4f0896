// What every balancer type must do the same way: priority groups, skipping ejected and excluded
// nodes, the half-open trial, failing open, weight 0.

#include "aiproxy/upstream/priority_balancer.hpp"

#include <gtest/gtest.h>

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;
using test::countPicks;
using test::eject;
using test::kT0;
using test::node;

class EveryBalancerTest : public ::testing::TestWithParam<std::string> {
protected:
    std::unique_ptr<Balancer> make(std::vector<config::NodeConfig> list) {
        auto upstream = test::upstreamOf(std::move(list), GetParam());
        runtime_ = test::runtimeOf(upstream);
        return makeBalancer(upstream, runtime_, {.seed = 42});
    }
    // Picks with a different hash key each time, so chash spreads too.
    std::map<long, int> spread(Balancer& balancer, int picks,
                               const std::vector<bool>& excluded = {},
                               Clock::time_point now = kT0) {
        std::map<long, int> counts;
        for (int i = 0; i < picks; ++i) {
            std::string key = "client-" + std::to_string(i);
            auto picked = balancer.pick({.excluded = excluded, .hash_key = key, .now = now});
            counts[picked ? static_cast<long>(*picked) : -1L]++;
        }
        return counts;
    }
    std::shared_ptr<UpstreamRuntime> runtime_;
};

TEST_P(EveryBalancerTest, PicksOnlyInTheHighestPriorityGroup) {
    auto balancer = make({node("a", 1, 5), node("b", 1, 5), node("low", 1, 0)});
    auto counts = spread(*balancer, 200);
    EXPECT_EQ(counts.count(2), 0u);
    EXPECT_GT(counts[0], 0);
    EXPECT_GT(counts[1], 0);
}

TEST_P(EveryBalancerTest, LowerGroupServesWhenTheHigherOneIsExcluded) {
    auto balancer = make({node("low", 1, -1), node("a", 1, 1), node("b", 1, 1)});
    EXPECT_EQ(spread(*balancer, 50, {false, true, true}), (std::map<long, int>{{0, 50}}));
}

TEST_P(EveryBalancerTest, LowerGroupServesWhenTheHigherOneIsEjected) {
    auto balancer = make({node("a", 1, 1), node("b", 1, 1), node("low", 1, 0)});
    eject(*runtime_, 0, kT0);
    eject(*runtime_, 1, kT0);
    PickNotes notes;
    EXPECT_EQ(balancer->pick({.excluded = {}, .now = kT0, .notes = &notes}), 2u);
    EXPECT_FALSE(notes.failed_open);
    EXPECT_EQ(spread(*balancer, 50, {}, kT0 + 1s), (std::map<long, int>{{2, 50}}));
}

TEST_P(EveryBalancerTest, EjectedNodesAreSkipped) {
    auto balancer = make({node("a"), node("b"), node("c")});
    eject(*runtime_, 1, kT0);
    auto counts = spread(*balancer, 300);
    EXPECT_EQ(counts.count(1), 0u);
    EXPECT_EQ(counts[0] + counts[2], 300);
}

TEST_P(EveryBalancerTest, ProbeUnhealthyNodesAreSkipped) {
    auto balancer = make({node("a"), node("b")});
    for (int i = 0; i < 2; ++i)
        runtime_->node(0).health().recordProbeFailure(FailureKind::Tcp, "refused", kT0);
    EXPECT_EQ(spread(*balancer, 20), (std::map<long, int>{{1, 20}}));
}

TEST_P(EveryBalancerTest, HalfOpenNodeGetsExactlyOneTrialAheadOfTheAlgorithm) {
    auto balancer = make({node("a"), node("b"), node("c")});
    eject(*runtime_, 1, kT0);
    auto after = kT0 + 5s;  // default cooldown
    PickNotes notes;
    EXPECT_EQ(balancer->pick({.excluded = {}, .hash_key = "k", .now = after, .notes = &notes}), 1u);
    EXPECT_TRUE(notes.trial);
    // While the trial runs, nobody else gets the node.
    EXPECT_EQ(spread(*balancer, 100, {}, after).count(1), 0u);
    runtime_->node(1).health().recordSuccess(after);
    EXPECT_GT(spread(*balancer, 300, {}, after)[1], 0);
}

TEST_P(EveryBalancerTest, FailsOpenWhenEveryNodeIsEjectedAndSaysSoOnce) {
    auto balancer = make({node("a"), node("b")});
    eject(*runtime_, 0, kT0);
    eject(*runtime_, 1, kT0);
    PickNotes first;
    ASSERT_TRUE(balancer->pick({.excluded = {}, .now = kT0, .notes = &first}));
    EXPECT_TRUE(first.failed_open);
    EXPECT_TRUE(first.fail_open_started);
    EXPECT_TRUE(runtime_->failingOpen());

    // Another worker's balancer over the same runtime: same episode, no second "started".
    auto other = makeBalancer(test::upstreamOf({node("a"), node("b")}, GetParam()), runtime_);
    PickNotes second;
    EXPECT_EQ(other->pick({.excluded = {true, false}, .now = kT0, .notes = &second}), 1u);
    EXPECT_TRUE(second.failed_open);
    EXPECT_FALSE(second.fail_open_started);
    EXPECT_EQ(balancer->pick({.excluded = {true, true}, .now = kT0}), std::nullopt);

    // A node comes back: the episode ends, and a new one is announced again.
    runtime_->node(0).health().recordProbeSuccess(kT0);  // ends the ejection: half-open
    PickNotes trial;
    EXPECT_EQ(balancer->pick({.excluded = {}, .now = kT0, .notes = &trial}), 0u);
    EXPECT_TRUE(trial.trial);
    EXPECT_FALSE(trial.failed_open);
    EXPECT_FALSE(runtime_->failingOpen());
    runtime_->node(0).health().recordFailure(FailureKind::Tcp, "refused", kT0);
    PickNotes again;
    ASSERT_TRUE(balancer->pick({.excluded = {}, .now = kT0, .notes = &again}));
    EXPECT_TRUE(again.fail_open_started);
}

TEST_P(EveryBalancerTest, WithoutFailOpenEveryNodeEjectedMeansNoNode) {
    auto balancer = make({node("a"), node("b")});
    eject(*runtime_, 0, kT0);
    eject(*runtime_, 1, kT0);
    PickNotes notes;
    EXPECT_EQ(
        balancer->pick({.excluded = {}, .now = kT0, .notes = &notes, .allow_fail_open = false}),
        std::nullopt);
    EXPECT_FALSE(notes.failed_open);
    EXPECT_FALSE(runtime_->failingOpen());
    EXPECT_TRUE(balancer->pick({.excluded = {}, .now = kT0}));
}

TEST_P(EveryBalancerTest, EligibleButExcludedMeansNoNodeNotFailOpen) {
    auto balancer = make({node("a"), node("b")});
    eject(*runtime_, 1, kT0);
    PickNotes notes;
    EXPECT_EQ(balancer->pick({.excluded = {true}, .now = kT0, .notes = &notes}), std::nullopt);
    EXPECT_FALSE(notes.failed_open);
}

TEST_P(EveryBalancerTest, FailOpenStillHonoursPriority) {
    auto balancer = make({node("low", 1, 0), node("high", 1, 9)});
    eject(*runtime_, 0, kT0);
    eject(*runtime_, 1, kT0);
    EXPECT_EQ(spread(*balancer, 20), (std::map<long, int>{{1, 20}}));
}

TEST_P(EveryBalancerTest, WeightZeroIsNeverPicked) {
    auto balancer = make({node("a", 0), node("b", 3), node("c", 0)});
    EXPECT_EQ(spread(*balancer, 50), (std::map<long, int>{{1, 50}}));
    auto none = make({node("a", 0), node("b", 0)});
    EXPECT_EQ(spread(*none, 5), (std::map<long, int>{{-1, 5}}));
}

INSTANTIATE_TEST_SUITE_P(Types, EveryBalancerTest,
                         ::testing::Values("roundrobin", "least_conn", "chash", "ewma"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace aiproxy::upstream
