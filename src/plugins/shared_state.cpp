#include <stdexcept>

#include "aiproxy/plugins/redis_counter_store.hpp"
#include "aiproxy/plugins/stages.hpp"

namespace aiproxy::plugins {

const RouteLimits* SharedState::groupLimits(const std::string& consumer) const {
    if (consumer.empty() || group_of_consumer.empty()) return nullptr;
    auto found = group_of_consumer.find(consumer);
    return found == group_of_consumer.end() ? nullptr : &group_limits[found->second];
}

StoreResolver SharedState::redisStores() const {
    return [this](const config::RedisPolicyConfig& redis) -> std::shared_ptr<CounterStore> {
        auto found = redis_stores.find(redisStoreName(redis));
        return found == redis_stores.end() ? nullptr : found->second;
    };
}

namespace {

// aiproxy_rate_limited_total{consumer_group,plugin}: a group's budget spans routes, so its
// refusals are counted by group (bounded: groups come from config), not by route.
void groupLimitMetrics(metrics::CellSource& cells, const config::ConsumerGroupConfig& group,
                       RouteLimits& limits) {
    auto cell = [&](LimitPlugin plugin) {
        limits.rejected[static_cast<std::size_t>(plugin)] = cells.counter(
            "aiproxy_rate_limited_total",
            "Requests refused by a limit, by route (or consumer group) and plugin.",
            {{"consumer_group", group.id}, {"plugin", std::string(limitPluginName(plugin))}});
    };
    if (group.limit_req) cell(LimitPlugin::LimitReq);
    if (group.limit_count) cell(LimitPlugin::LimitCount);
    if (group.ai_rate_limiting) cell(LimitPlugin::AiRateLimiting);
}

}  // namespace

std::shared_ptr<const SharedState> buildSharedState(const config::Config& config,
                                                    std::shared_ptr<LimitStore> limit_store,
                                                    metrics::CellSource* cells,
                                                    PriceLookup price_of) {
    auto shared = std::make_shared<SharedState>();
    shared->price_of = std::move(price_of);
    for (const auto& consumer : config.consumers) {
        if (consumer.key_sha256.empty()) continue;
        auto [it, added] = shared->consumers_by_key.emplace(consumer.key_sha256, consumer.id);
        if (!added) {
            throw std::runtime_error("consumers " + it->second + " and " + consumer.id +
                                     " have the same key-auth key");
        }
    }
    shared->limit_store = std::move(limit_store);
    auto addStore = [&](const auto& plugin) {
        if (!plugin || !plugin->policy.redis) return;
        auto store = std::make_shared<RedisCounterStore>(*plugin->policy.redis);
        shared->redis_stores.emplace(store->name(), store);
    };
    for (const auto& route : config.routes) {
        addStore(route.limit_count);
        addStore(route.limit_req);
        addStore(route.ai_rate_limiting);
    }
    for (const auto& group : config.consumer_groups) {
        addStore(group.limit_count);
        addStore(group.limit_req);
        addStore(group.ai_rate_limiting);
    }
    std::unordered_map<std::string, std::size_t> group_index;
    for (const auto& group : config.consumer_groups) {
        RouteLimits limits{group, *shared->limit_store, shared->redisStores()};
        if (limits.empty()) continue;
        if (cells) groupLimitMetrics(*cells, group, limits);
        group_index.emplace(group.id, shared->group_limits.size());
        shared->group_limits.push_back(std::move(limits));
    }
    for (const auto& consumer : config.consumers) {
        auto found = group_index.find(consumer.group_id);
        if (found != group_index.end()) shared->group_of_consumer[consumer.id] = found->second;
    }
    return shared;
}

}  // namespace aiproxy::plugins
