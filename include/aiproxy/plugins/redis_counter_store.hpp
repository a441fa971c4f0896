#pragma once
// RedisCounterStore: limit counters in one Redis shared by every gateway node (policy: redis).
// Each operation is one Lua script, so its check and its update are atomic across nodes;
// windows align to multiples of their length on the Redis server's clock (TIME), so nodes
// whose clocks differ still agree on them. A key is a hash {start, used} (fixed window) or
// {mark, excess} (leaky bucket) that expires once it no longer matters.
//
// This object is per snapshot and holds no socket: each worker keeps its own pipelined
// connection per Redis target among its worker objects (StageServices::worker_objects), made by
// the first request that needs it and kept across snapshots.

#include <string>

#include "aiproxy/config/config.hpp"
#include "aiproxy/plugins/counter_store.hpp"

namespace aiproxy::plugins {

class RedisCounterStore final : public CounterStore {
public:
    explicit RedisCounterStore(config::RedisPolicyConfig target);
    // Unanswered (answered = false) when Redis is unreachable, slow past redis_timeout, or
    // answers with an error.
    common::awaitable<CounterAnswer> apply(CounterOp op, http::StageServices& worker) override;

    // redisStoreName(target).
    const std::string& name() const { return name_; }

private:
    config::RedisPolicyConfig target_;
    std::string name_;
};

// The worker object's name for a target: everything that makes two connections different (the
// password only as a digest).
std::string redisStoreName(const config::RedisPolicyConfig& target);

// The Redis key of a counter key: "aiproxy:" and the key's parts joined by ':'.
std::string redisKey(const std::string& key);

}  // namespace aiproxy::plugins
