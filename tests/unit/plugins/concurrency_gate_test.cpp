// ConcurrencyGate: slots, a bounded FIFO queue, grants handed over on leave, withdrawal races.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "aiproxy/plugins/concurrency_gate.hpp"

namespace aiproxy::plugins {
namespace {

using Entry = ConcurrencyGate::Entry;

TEST(ConcurrencyGateTest, AdmitsUpToTheLimitQueuesUpToTheBoundAndRefusesTheRest) {
    ConcurrencyGate gate;
    std::uint64_t ticket = 0;
    EXPECT_EQ(gate.enter(1, 1, nullptr, ticket), Entry::Admitted);
    int granted = 0;
    EXPECT_EQ(gate.enter(
                  1, 1, [&] { ++granted; }, ticket),
              Entry::Queued);
    std::uint64_t unused = 0;
    EXPECT_EQ(gate.enter(1, 1, nullptr, unused), Entry::Full);
    EXPECT_EQ(gate.active(), 1);
    EXPECT_EQ(gate.waiting(), 1U);

    gate.leave();  // the slot passes to the waiter
    EXPECT_EQ(granted, 1);
    EXPECT_EQ(gate.active(), 1);
    EXPECT_EQ(gate.waiting(), 0U);
    EXPECT_FALSE(gate.withdraw(ticket));  // too late: the slot is the waiter's
    gate.leave();
    EXPECT_EQ(gate.active(), 0);
}

TEST(ConcurrencyGateTest, WaitersAreServedInArrivalOrder) {
    ConcurrencyGate gate;
    std::uint64_t ticket = 0;
    gate.enter(1, 3, nullptr, ticket);
    std::vector<int> order;
    for (int i = 0; i < 3; ++i)
        gate.enter(
            1, 3, [&order, i] { order.push_back(i); }, ticket);
    for (int i = 0; i < 3; ++i)
        gate.leave();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(ConcurrencyGateTest, AWithdrawnWaiterIsSkipped) {
    ConcurrencyGate gate;
    std::uint64_t first = 0;
    std::uint64_t second = 0;
    gate.enter(1, 2, nullptr, first);
    bool first_granted = false;
    bool second_granted = false;
    gate.enter(
        1, 2, [&] { first_granted = true; }, first);
    gate.enter(
        1, 2, [&] { second_granted = true; }, second);
    EXPECT_TRUE(gate.withdraw(first));
    gate.leave();
    EXPECT_FALSE(first_granted);
    EXPECT_TRUE(second_granted);
}

TEST(ConcurrencyGateTest, ARaisedLimitAdmitsWaitersAtTheNextEntry) {
    ConcurrencyGate gate;
    std::uint64_t ticket = 0;
    gate.enter(1, 5, nullptr, ticket);
    int granted = 0;
    gate.enter(
        1, 5, [&] { ++granted; }, ticket);
    EXPECT_EQ(gate.enter(3, 5, nullptr, ticket), Entry::Admitted);
    EXPECT_EQ(granted, 1);
    EXPECT_EQ(gate.active(), 3);
}

TEST(ConcurrencyGateTest, ManyThreadsNeverExceedTheLimit) {
    ConcurrencyGate gate;
    std::atomic<int> inside{0};
    std::atomic<int> peak{0};
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                std::uint64_t ticket = 0;
                if (gate.enter(2, 0, nullptr, ticket) != Entry::Admitted) continue;
                int now = ++inside;
                int seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
                ++admitted;
                --inside;
                gate.leave();
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    EXPECT_LE(peak.load(), 2);
    EXPECT_GT(admitted.load(), 0);
    EXPECT_EQ(gate.active(), 0);
}

TEST(ConcurrencyGateTest, ASlotLeavesWhenItsHolderGoesAway) {
    auto gate = std::make_shared<ConcurrencyGate>();
    std::uint64_t ticket = 0;
    ASSERT_EQ(gate->enter(1, 0, nullptr, ticket), Entry::Admitted);
    {
        GateSlot slot{gate};
        GateSlot moved = std::move(slot);
        EXPECT_EQ(gate->active(), 1);
    }
    EXPECT_EQ(gate->active(), 0);
}

}  // namespace
}  // namespace aiproxy::plugins
