#include "aiproxy/upstream/ewma_balancer.hpp"

#include <gtest/gtest.h>

#include "aiproxy/upstream/attempt_guard.hpp"
#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;
using test::kT0;
using test::node;

struct Ewma {
    explicit Ewma(std::vector<config::NodeConfig> list)
        : runtime(test::runtimeOf(test::upstreamOf(std::move(list), "ewma"))),
          balancer(runtime, 2024) {}

    // Simulated traffic: `rate` requests per second from `from` to `to`, one at a time; node i
    // answers after latency(i). Returns how many went to each node.
    template <class Latency>
    std::map<std::size_t, int> run(Clock::duration from, Clock::duration to, int rate,
                                   Latency latency) {
        std::map<std::size_t, int> counts;
        auto step = std::chrono::duration_cast<Clock::duration>(1s) / rate;
        for (auto t = kT0 + from; t < kT0 + to; t += step) {
            auto picked = balancer.pick({.excluded = {}, .now = t});
            EXPECT_TRUE(picked);
            counts[*picked]++;
            // The answer's first byte arrives latency later; record it as of the pick time so
            // the simulated requests do not overlap.
            AttemptGuard guard{*runtime, *picked, false, t - latency(*picked)};
            guard.firstByte(t);
        }
        return counts;
    }

    std::shared_ptr<UpstreamRuntime> runtime;
    EwmaBalancer balancer;
};

double share(std::map<std::size_t, int>& counts, std::size_t node) {
    int total = 0;
    for (auto& [index, count] : counts)
        total += count;
    return counts[node] / double(total);
}

TEST(EwmaBalancerTest, ASlowedNodeLosesTrafficWithinSecondsAndWinsItBackWhenFast) {
    Ewma ewma{{node("a"), node("b")}};
    auto fast = [](std::size_t) { return 100ms; };
    auto b_slow = [](std::size_t i) { return i == 1 ? Clock::duration{1s} : 100ms; };

    auto warm = ewma.run(0s, 10s, 100, fast);
    EXPECT_NEAR(share(warm, 1), 0.5, 0.2);

    // b turns ten times slower at 10 s: after two seconds it gets next to nothing.
    ewma.run(10s, 12s, 100, b_slow);
    auto slow = ewma.run(12s, 30s, 100, b_slow);
    EXPECT_LT(share(slow, 1), 0.01);

    // b is fast again from 30 s. Its estimate decays while it is avoided (to a's level
    // decay * ln(10) = 23 s after its last slow answer), then one request shows it is fast.
    ewma.run(30s, 35s, 100, fast);
    auto recovered = ewma.run(35s, 45s, 100, fast);
    EXPECT_GT(share(recovered, 1), 0.4);
}

TEST(EwmaBalancerTest, InFlightAttemptsRaiseTheScore) {
    Ewma ewma{{node("a"), node("b")}};
    for (std::size_t i : {0u, 1u}) {
        AttemptGuard guard{*ewma.runtime, i, false, kT0 - 200ms};
        guard.firstByte(kT0);
    }
    AttemptGuard busy1{*ewma.runtime, 0, false, kT0}, busy2{*ewma.runtime, 0, false, kT0};
    EXPECT_DOUBLE_EQ(ewma.balancer.score(0, kT0), 0.2 * 3);
    EXPECT_DOUBLE_EQ(ewma.balancer.score(1, kT0), 0.2);
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(ewma.balancer.pick({.excluded = {}, .now = kT0}), 1u);
}

TEST(EwmaBalancerTest, WeightDividesTheScore) {
    Ewma ewma{{node("a", 4), node("b", 1)}};
    for (std::size_t i : {0u, 1u}) {
        AttemptGuard guard{*ewma.runtime, i, false, kT0 - 400ms};
        guard.firstByte(kT0);
    }
    EXPECT_DOUBLE_EQ(ewma.balancer.score(0, kT0), 0.1);
    EXPECT_DOUBLE_EQ(ewma.balancer.score(1, kT0), 0.4);
}

TEST(EwmaBalancerTest, ANodeWithoutSamplesIsTriedButNotFlooded) {
    Ewma ewma{{node("old"), node("new")}};
    {
        AttemptGuard guard{*ewma.runtime, 0, false, kT0 - 2s};
        guard.firstByte(kT0);  // old: 2 s
    }
    EXPECT_EQ(ewma.balancer.pick({.excluded = {}, .now = kT0}), 1u);
    AttemptGuard first_on_new{*ewma.runtime, 1, false, kT0};
    // Until that first answer, new is not a better bet than a 2-second node.
    EXPECT_EQ(ewma.balancer.pick({.excluded = {}, .now = kT0}), 0u);
}

TEST(EwmaBalancerTest, ATimeoutCountsAsASlowSample) {
    Ewma ewma{{node("a"), node("b")}};
    AttemptGuard guard{*ewma.runtime, 0, false, kT0};
    guard.failed(FailureKind::Timeout, "no response within 30000 ms", kT0 + 30s);
    EXPECT_NEAR(ewma.runtime->node(0).latency().seconds(kT0 + 30s), 30.0, 1e-9);
}

}  // namespace
}  // namespace aiproxy::upstream
