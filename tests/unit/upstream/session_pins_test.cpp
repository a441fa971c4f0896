// hash_on: session (issue 20, item 4): conversations pinned to one node with bounded loads, and
// re-pinned once, for good, when their node is ejected.

#include "aiproxy/upstream/session_pins.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "aiproxy/upstream/chash_balancer.hpp"
#include "aiproxy/upstream/hash_ring.hpp"
#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using test::kT0;

constexpr int kSessions = 200;

std::string sessionOf(int i) {
    return "conversation-" + std::to_string(i);
}

struct Sessions {
    explicit Sessions(int nodes)
        : runtime(test::runtimeOf(test::upstreamOf(test::nodes(nodes), "chash"))),
          balancer(runtime, /*sessions=*/true) {}

    std::size_t pick(const std::string& session, const std::vector<bool>& excluded = {}) {
        auto picked = balancer.pick({.excluded = excluded, .hash_key = session, .now = kT0});
        EXPECT_TRUE(picked.has_value());
        return picked.value_or(99);
    }

    std::vector<std::size_t> placeAll() {
        std::vector<std::size_t> home;
        for (int i = 0; i < kSessions; ++i)
            home.push_back(pick(sessionOf(i)));
        return home;
    }

    std::shared_ptr<UpstreamRuntime> runtime;
    ChashBalancer balancer;
};

TEST(SessionPinsTest, EverySessionStaysOnOneNodeAndNoNodeExceedsTheBound) {
    Sessions sessions{4};
    auto home = sessions.placeAll();
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < kSessions; ++i)
            ASSERT_EQ(sessions.pick(sessionOf(i)), home[i]) << i;
    }
    std::map<std::size_t, int> per_node;
    for (auto node : home)
        ++per_node[node];
    EXPECT_EQ(per_node.size(), 4u);
    int bound = static_cast<int>(std::ceil(SessionPins::kLoadFactor * kSessions / 4));
    for (auto [node, count] : per_node)
        EXPECT_LE(count, bound) << "node " << node;
    EXPECT_EQ(sessions.runtime->sessionPins().sessions(), static_cast<std::size_t>(kSessions));
}

TEST(SessionPinsTest, EveryWorkerSeesTheSamePins) {
    Sessions worker1{4};
    ChashBalancer worker2{worker1.runtime, true};
    auto home = worker1.placeAll();
    std::vector<bool> none;
    for (int i = 0; i < kSessions; ++i) {
        auto picked = worker2.pick({.excluded = none, .hash_key = sessionOf(i), .now = kT0});
        ASSERT_EQ(picked, home[i]);
    }
}

TEST(SessionPinsTest, AnEjectedNodesSessionsMoveOnceAndStayWhenItHeals) {
    Sessions sessions{4};
    auto home = sessions.placeAll();
    test::eject(*sessions.runtime, 2, kT0);
    std::vector<std::size_t> moved;
    for (int i = 0; i < kSessions; ++i) {
        auto now = sessions.pick(sessionOf(i));
        if (home[i] == 2) {
            ASSERT_NE(now, 2u) << i;
        } else {
            ASSERT_EQ(now, home[i]) << "session " << i << " moved without reason";
        }
        moved.push_back(now);
    }
    // Healed: the moved sessions stay where they went (their caches are there now).
    sessions.runtime->node(2).health().recordProbeSuccess(kT0);
    sessions.runtime->node(2).health().recordSuccess(kT0);
    for (int i = 0; i < kSessions; ++i)
        ASSERT_EQ(sessions.pick(sessionOf(i)), moved[i]) << i;
    // New sessions use the healed node again.
    int on_healed = 0;
    for (int i = kSessions; i < 2 * kSessions; ++i)
        on_healed += sessions.pick(sessionOf(i)) == 2;
    EXPECT_GT(on_healed, 0);
}

TEST(SessionPinsTest, ARetryAfterThePinnedNodeFailedGoesElsewhereWithoutMovingTheSession) {
    Sessions sessions{3};
    auto home = sessions.pick("s");
    std::vector<bool> tried(3, false);
    tried[home] = true;
    EXPECT_NE(sessions.pick("s", tried), home);
    EXPECT_EQ(sessions.pick("s"), home);
}

TEST(SessionPinsTest, BeyondTheCapTheLeastRecentlyUsedPinIsDropped) {
    HashRing ring{test::nodes(2)};
    SessionPins pins{{1, 1}, /*max_sessions=*/3};
    std::vector<std::size_t> both{0, 1};
    auto never = [](std::size_t) { return false; };
    pins.place("a", both, ring, never);
    pins.place("b", both, ring, never);
    pins.place("c", both, ring, never);
    pins.place("a", both, ring, never);  // a is fresh again; b is now the oldest
    pins.place("d", both, ring, never);
    EXPECT_EQ(pins.sessions(), 3u);
    auto loads = pins.loads();
    EXPECT_EQ(loads[0] + loads[1], 3u);
}

TEST(SessionPinsTest, WeightsShareTheLoad) {
    HashRing ring{{test::node("a", 3), test::node("b", 1)}};
    SessionPins pins{{3, 1}};
    std::vector<std::size_t> both{0, 1};
    for (int i = 0; i < 400; ++i)
        pins.place(sessionOf(i), both, ring, [](std::size_t) { return false; });
    auto loads = pins.loads();
    EXPECT_LE(loads[1], static_cast<std::size_t>(std::ceil(1.25 * 400 / 4)));
    EXPECT_LE(loads[0], static_cast<std::size_t>(std::ceil(1.25 * 400 * 3 / 4)));
}

}  // namespace
}  // namespace aiproxy::upstream
