#include "aiproxy/upstream/round_robin_balancer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aiproxy::upstream {
namespace {

std::string sequence(RoundRobinBalancer& balancer, int picks, const std::vector<bool>& excluded) {
    std::string out;
    for (int i = 0; i < picks; ++i) {
        auto picked = balancer.pick({.excluded = excluded});
        out += picked ? static_cast<char>('A' + *picked) : '-';
    }
    return out;
}

TEST(RoundRobinBalancerTest, WeightsFourToOneGiveEightToTwoOverTenPicksInterleaved) {
    RoundRobinBalancer balancer{{4, 1}};
    std::string picks = sequence(balancer, 10, {});
    EXPECT_EQ(std::count(picks.begin(), picks.end(), 'A'), 8);
    EXPECT_EQ(std::count(picks.begin(), picks.end(), 'B'), 2);
    EXPECT_EQ(picks, "AABAAAABAA");  // smooth: B is spread out, never two B in a row
}

TEST(RoundRobinBalancerTest, EqualWeightsAlternate) {
    RoundRobinBalancer balancer{{1, 1, 1}};
    EXPECT_EQ(sequence(balancer, 6, {}), "ABCABC");
}

TEST(RoundRobinBalancerTest, WeightZeroIsNeverPicked) {
    RoundRobinBalancer balancer{{0, 3}};
    EXPECT_EQ(sequence(balancer, 5, {}), "BBBBB");
    RoundRobinBalancer none{{0, 0}};
    EXPECT_EQ(sequence(none, 2, {}), "--");
}

TEST(RoundRobinBalancerTest, ExcludedNodesAreSkipped) {
    RoundRobinBalancer balancer{{5, 1}};
    EXPECT_EQ(sequence(balancer, 3, {true, false}), "BBB");
    EXPECT_EQ(sequence(balancer, 1, {true, true}), "-");
}

TEST(RoundRobinBalancerTest, MakeBalancerUsesNodeWeights) {
    config::UpstreamConfig upstream{
        .id = "u",
        .nodes = {{.host = "a", .port = 1, .weight = 4}, {.host = "b", .port = 1, .weight = 1}}};
    auto balancer = makeBalancer(upstream);
    int first = 0;
    for (int i = 0; i < 10; ++i)
        first += balancer->pick({.excluded = {}}) == 0u ? 1 : 0;
    EXPECT_EQ(first, 8);
}

}  // namespace
}  // namespace aiproxy::upstream
