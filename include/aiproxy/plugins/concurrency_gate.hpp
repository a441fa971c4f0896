#pragma once
// ConcurrencyGate: a route's max_concurrent, shared by every worker. At most `limit` requests
// hold a slot; up to `queue` more wait in arrival order and get the slot a leaving request
// frees. Waiters live on different workers' event loops, so a grant is a callback that only
// posts to the waiter's loop; the gate never blocks and never calls out under its lock.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace aiproxy::plugins {

class ConcurrencyGate {
public:
    enum class Entry { Admitted, Queued, Full };

    // limit and queue come with every call, from the snapshot the request runs on, so a changed
    // max_concurrent applies from the next request without touching the live gate elsewhere.
    // Queued: `grant` runs later (on the thread that frees the slot) unless withdraw() wins;
    // `ticket` names the wait for withdraw().
    Entry enter(int limit, int queue, std::function<void()> grant, std::uint64_t& ticket);
    // The waiter gives up (queue timeout). True: it left the queue; false: the slot was granted
    // meanwhile and belongs to the caller, who must leave() it.
    bool withdraw(std::uint64_t ticket);
    // Frees a slot: handed to the oldest waiter when the limit allows.
    void leave();

    int active() const;
    std::size_t waiting() const;

private:
    struct Waiter {
        std::uint64_t ticket;
        std::function<void()> grant;
    };
    // Under the lock: moves waiters into free slots; their grants run after unlocking.
    void admitWaiters(std::vector<std::function<void()>>& grants);
    static void runGrants(std::vector<std::function<void()>>& grants);
    mutable std::mutex mutex_;
    int limit_ = 1;
    int active_ = 0;
    std::uint64_t next_ticket_ = 0;
    std::deque<Waiter> waiters_;
};

// A held slot; leaves the gate when destroyed.
class GateSlot {
public:
    GateSlot() = default;
    explicit GateSlot(std::shared_ptr<ConcurrencyGate> gate) : gate_(std::move(gate)) {}
    GateSlot(GateSlot&& other) noexcept = default;
    GateSlot& operator=(GateSlot&& other) noexcept {
        if (this != &other) {
            release();
            gate_ = std::move(other.gate_);
        }
        return *this;
    }
    GateSlot(const GateSlot&) = delete;
    GateSlot& operator=(const GateSlot&) = delete;
    ~GateSlot() { release(); }

    void release() {
        if (gate_) std::exchange(gate_, nullptr)->leave();
    }

private:
    std::shared_ptr<ConcurrencyGate> gate_;
};

}  // namespace aiproxy::plugins
