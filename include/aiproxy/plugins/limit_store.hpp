#pragma once
// LimitStore: the counters of the traffic plugins for the whole process. Every worker counts in
// the same store, under a lock per shard held for a few arithmetic operations, so N workers
// enforce one limit exactly (no per-worker share of the quota that drifts with load balance).
// Keys are (route, plugin, window settings, client key) strings built by RouteLimits; a snapshot
// swap that keeps those keeps the counts. Memory is bounded: entries whose window ended (or whose
// bucket drained) are dropped as new ones arrive, and past max_keys the least recently used key
// is evicted (that client starts afresh: the bound is worth more than its exactness).
//
// Time is passed in (milliseconds since the Unix epoch), so tests drive a fake clock and fixed
// windows align to the wall clock, as a cluster store will need.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aiproxy/plugins/concurrency_gate.hpp"
#include "aiproxy/plugins/counter_store.hpp"

namespace aiproxy::plugins {

class LimitStore final : public CounterStore {
public:
    explicit LimitStore(std::size_t max_keys = 100'000, std::size_t shards = 16);

    // Fixed window: adds `amount` when the window's total stays within `limit` (limit-count).
    WindowUse take(const std::string& key, Millis window, double limit, double amount, Millis now);
    // Fixed window: a budget's reservation. As take, except that an empty window admits an
    // amount larger than the whole limit (else such a request could never pass); nothing is
    // admitted once the window is used up, whatever the amount.
    WindowUse reserve(const std::string& key, Millis window, double limit, double amount,
                      Millis now);
    // Fixed window: adds `delta` (a reservation replaced by the actual usage; may be negative,
    // the total stays >= 0) when the window that began at `start` is still the key's; a window
    // that has ended is left alone. False when nothing was changed.
    bool settle(const std::string& key, Millis window, Millis start, double delta, Millis now);
    // Leaky bucket of `rate` per second with `burst` (nginx limit_req semantics).
    BucketUse leak(const std::string& key, double rate, double burst, Millis now);

    // Every operation answers at once, under the key's shard lock.
    CounterAnswer applyNow(const CounterOp& op);
    common::awaitable<CounterAnswer> apply(CounterOp op, http::StageServices& worker) override;

    // The route's gate, shared by every snapshot that has the route while one holds it.
    std::shared_ptr<ConcurrencyGate> gate(const std::string& route_id);

    std::size_t size() const;

private:
    struct Entry {
        std::string key;
        std::int64_t mark = 0;  // window: its start; bucket: last request (ms)
        double value = 0;       // window: used; bucket: excess requests
        std::int64_t expires = 0;
    };
    struct Shard {
        mutable std::mutex mutex;
        std::list<Entry> lru;  // most recently used first
        std::unordered_map<std::string_view, std::list<Entry>::iterator> index;
    };

    Shard& shardOf(const std::string& key);
    // Under the shard's lock: the key's entry, moved to the front; created (mark = kFresh) when
    // missing, after dropping expired entries and, at the cap, the least recently used one.
    Entry& touch(Shard& shard, const std::string& key, std::int64_t now);
    static void roll(Entry& entry, std::int64_t window, std::int64_t now);

    std::size_t max_per_shard_;
    std::vector<Shard> shards_;
    std::mutex gates_mutex_;
    std::unordered_map<std::string, std::weak_ptr<ConcurrencyGate>> gates_;
};

}  // namespace aiproxy::plugins
