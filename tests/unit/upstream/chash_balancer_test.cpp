#include "aiproxy/upstream/chash_balancer.hpp"

#include <gtest/gtest.h>

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using test::kT0;
using test::node;

constexpr int kKeys = 20'000;

std::string keyOf(int i) {
    return "user-" + std::to_string(i);
}

struct Chash {
    explicit Chash(std::vector<config::NodeConfig> list)
        : runtime(test::runtimeOf(test::upstreamOf(std::move(list), "chash"))), balancer(runtime) {}

    // The address of the node key lands on.
    std::string addressFor(const std::string& key, const std::vector<bool>& excluded = {}) {
        auto picked = balancer.pick({.excluded = excluded, .hash_key = key, .now = kT0});
        return picked ? runtime->node(*picked).address() : "";
    }

    std::shared_ptr<UpstreamRuntime> runtime;
    ChashBalancer balancer;
};

TEST(ChashBalancerTest, AKeyAlwaysLandsOnTheSameNodeOnEveryWorker) {
    Chash worker1{test::nodes(5)};
    Chash worker2{test::nodes(5)};
    for (int i = 0; i < 1000; ++i) {
        auto first = worker1.addressFor(keyOf(i));
        ASSERT_EQ(worker1.addressFor(keyOf(i)), first);
        ASSERT_EQ(worker2.addressFor(keyOf(i)), first);
    }
    // One ring, shared by the workers.
    EXPECT_EQ(worker1.runtime->hashRing()->points(), 5 * HashRing::kPointsPerWeight);
}

TEST(ChashBalancerTest, KeysSpreadInProportionToWeight) {
    // 160 points per weight unit: arcs vary by about 8 %, so allow 4 points of share.
    Chash chash{{node("10.0.0.1", 1), node("10.0.0.2", 1), node("10.0.0.3", 2)}};
    std::map<std::string, int> counts;
    for (int i = 0; i < kKeys; ++i)
        counts[chash.addressFor(keyOf(i))]++;
    EXPECT_NEAR(counts["10.0.0.1:80"] / double(kKeys), 0.25, 0.04);
    EXPECT_NEAR(counts["10.0.0.2:80"] / double(kKeys), 0.25, 0.04);
    EXPECT_NEAR(counts["10.0.0.3:80"] / double(kKeys), 0.50, 0.04);
}

TEST(ChashBalancerTest, AddingANodeMovesOnlyAboutItsShareOfKeys) {
    Chash before{test::nodes(10)};
    Chash after{test::nodes(11)};
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
        auto was = before.addressFor(keyOf(i));
        auto now = after.addressFor(keyOf(i));
        if (was == now) continue;
        ++moved;
        ASSERT_EQ(now, "10.0.0.11:80") << "a key moved between two old nodes";
    }
    double fraction = moved / double(kKeys);
    EXPECT_LT(fraction, 0.15);  // ideal: 1/11 = 9.1 %
    EXPECT_GT(fraction, 0.04);
}

TEST(ChashBalancerTest, RemovingANodeMovesOnlyItsKeys) {
    auto all = test::nodes(10);
    auto fewer = all;
    fewer.erase(fewer.begin() + 3);  // 10.0.0.4; the later nodes change index, not address
    Chash before{all};
    Chash after{fewer};
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
        auto was = before.addressFor(keyOf(i));
        auto now = after.addressFor(keyOf(i));
        if (was != "10.0.0.4:80") {
            ASSERT_EQ(now, was);
        } else {
            ++moved;
        }
    }
    EXPECT_NEAR(moved / double(kKeys), 0.1, 0.04);
}

TEST(ChashBalancerTest, AnExcludedNodeSendsItsKeysWhereTheyWouldGoWithoutIt) {
    auto all = test::nodes(6);
    auto without = all;
    without.erase(without.begin() + 2);
    Chash full{all};
    Chash reduced{without};
    std::vector<bool> excluded(6, false);
    excluded[2] = true;
    for (int i = 0; i < 2000; ++i) {
        auto walked = full.addressFor(keyOf(i), excluded);
        ASSERT_NE(walked, "10.0.0.3:80");
        ASSERT_EQ(walked, reduced.addressFor(keyOf(i)));
    }
}

TEST(ChashBalancerTest, EjectedNodeIsWalkedPastAndKeysComeBackAfterward) {
    Chash chash{test::nodes(4)};
    std::vector<std::string> home;
    for (int i = 0; i < 500; ++i)
        home.push_back(chash.addressFor(keyOf(i)));
    test::eject(*chash.runtime, 0, kT0);
    for (int i = 0; i < 500; ++i) {
        auto now = chash.addressFor(keyOf(i));
        ASSERT_NE(now, "10.0.0.1:80");
        if (home[i] != "10.0.0.1:80") {
            ASSERT_EQ(now, home[i]);
        }
    }
    chash.runtime->node(0).health().recordProbeSuccess(kT0);
    chash.runtime->node(0).health().recordSuccess(kT0);
    for (int i = 0; i < 500; ++i)
        ASSERT_EQ(chash.addressFor(keyOf(i)), home[i]);
}

TEST(ChashBalancerTest, HugeWeightsAreScaledToTheRingCap) {
    HashRing ring{{node("a", 100'000), node("b", 50'000), node("c", 0)}};
    EXPECT_LE(ring.points(), HashRing::kMaxPoints);
    EXPECT_GT(ring.points(), HashRing::kMaxPoints - 3);
}

}  // namespace
}  // namespace aiproxy::upstream
