#include "aiproxy/plugins/limit_store.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace aiproxy::plugins {
namespace {

constexpr std::int64_t kFresh = std::numeric_limits<std::int64_t>::min();
// Expired entries dropped per insertion: enough to keep up with the insert rate, small enough
// to keep the lock short.
constexpr int kPurgePerInsert = 4;

Millis ceilMillis(double millis) {
    return Millis{static_cast<std::int64_t>(std::ceil(std::max(millis, 0.0)))};
}

}  // namespace

LimitStore::LimitStore(std::size_t max_keys, std::size_t shards)
    : max_per_shard_(std::max<std::size_t>(1, max_keys / std::max<std::size_t>(1, shards))),
      shards_(std::max<std::size_t>(1, shards)) {}

LimitStore::Shard& LimitStore::shardOf(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % shards_.size()];
}

LimitStore::Entry& LimitStore::touch(Shard& shard, const std::string& key, std::int64_t now) {
    if (auto found = shard.index.find(key); found != shard.index.end()) {
        shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
        return *found->second;
    }
    for (int i = 0; i < kPurgePerInsert && !shard.lru.empty() && shard.lru.back().expires <= now;
         ++i) {
        shard.index.erase(shard.lru.back().key);
        shard.lru.pop_back();
    }
    if (shard.lru.size() >= max_per_shard_) {
        shard.index.erase(shard.lru.back().key);
        shard.lru.pop_back();
    }
    shard.lru.push_front(Entry{.key = key, .mark = kFresh});
    shard.index.emplace(shard.lru.front().key, shard.lru.begin());
    return shard.lru.front();
}

void LimitStore::roll(Entry& entry, std::int64_t window, std::int64_t now) {
    // Windows align to multiples of their length since the epoch.
    std::int64_t start = now - ((now % window) + window) % window;
    if (entry.mark != start) {
        entry.mark = start;
        entry.value = 0;
        entry.expires = start + window;
    }
}

WindowUse LimitStore::take(const std::string& key, Millis window, double limit, double amount,
                           Millis now) {
    auto& shard = shardOf(key);
    std::lock_guard lock{shard.mutex};
    Entry& entry = touch(shard, key, now.count());
    roll(entry, window.count(), now.count());
    WindowUse use{.allowed = entry.value + amount <= limit};
    if (use.allowed) entry.value += amount;
    use.used = entry.value;
    use.reset = Millis{entry.expires - now.count()};
    use.start = Millis{entry.mark};
    return use;
}

WindowUse LimitStore::reserve(const std::string& key, Millis window, double limit, double amount,
                              Millis now) {
    auto& shard = shardOf(key);
    std::lock_guard lock{shard.mutex};
    Entry& entry = touch(shard, key, now.count());
    roll(entry, window.count(), now.count());
    WindowUse use{.allowed =
                      entry.value < limit && (entry.value + amount <= limit || entry.value == 0)};
    if (use.allowed) entry.value += amount;
    use.used = entry.value;
    use.reset = Millis{entry.expires - now.count()};
    use.start = Millis{entry.mark};
    return use;
}

bool LimitStore::settle(const std::string& key, Millis window, Millis start, double delta,
                        Millis now) {
    auto& shard = shardOf(key);
    std::lock_guard lock{shard.mutex};
    auto found = shard.index.find(key);
    if (found == shard.index.end()) return false;
    Entry& entry = *found->second;
    roll(entry, window.count(), now.count());
    if (entry.mark != start.count()) return false;
    entry.value = std::max(entry.value + delta, 0.0);
    return true;
}

CounterAnswer LimitStore::applyNow(const CounterOp& op) {
    CounterAnswer answer;
    switch (op.kind) {
        case CounterOp::Kind::Take:
            answer.window = take(op.key, op.window, op.limit, op.amount, op.now);
            break;
        case CounterOp::Kind::Reserve:
            answer.window = reserve(op.key, op.window, op.limit, op.amount, op.now);
            break;
        case CounterOp::Kind::Settle:
            answer.window.allowed = settle(op.key, op.window, op.start, op.amount, op.now);
            break;
        case CounterOp::Kind::Leak:
            answer.bucket = leak(op.key, op.limit, op.amount, op.now);
            break;
    }
    return answer;
}

common::awaitable<CounterAnswer> LimitStore::apply(CounterOp op, http::StageServices& /*worker*/) {
    co_return applyNow(op);
}

BucketUse LimitStore::leak(const std::string& key, double rate, double burst, Millis now) {
    auto& shard = shardOf(key);
    std::lock_guard lock{shard.mutex};
    Entry& entry = touch(shard, key, now.count());
    // excess: requests ahead of the rate, this one included; a fresh (or drained) bucket has
    // none, so the first request is never delayed.
    double excess = 0;
    if (entry.mark != kFresh) {
        double elapsed = std::abs(static_cast<double>(now.count() - entry.mark));
        excess = std::max(entry.value - rate * elapsed / 1000 + 1, 0.0);
    }
    if (excess > burst) {
        return {.allowed = false, .retry_after = ceilMillis((excess - burst) / rate * 1000)};
    }
    entry.mark = now.count();
    entry.value = excess;
    // Drained once the next request would find no excess: as good as fresh.
    entry.expires = now.count() + ceilMillis((excess + 1) / rate * 1000).count();
    return {.allowed = true, .delay = ceilMillis(excess / rate * 1000)};
}

std::shared_ptr<ConcurrencyGate> LimitStore::gate(const std::string& route_id) {
    std::lock_guard lock{gates_mutex_};
    std::erase_if(gates_, [](const auto& item) { return item.second.expired(); });
    auto& slot = gates_[route_id];
    auto gate = slot.lock();
    if (!gate) {
        gate = std::make_shared<ConcurrencyGate>();
        slot = gate;
    }
    return gate;
}

std::size_t LimitStore::size() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock{shard.mutex};
        total += shard.lru.size();
    }
    return total;
}

}  // namespace aiproxy::plugins
