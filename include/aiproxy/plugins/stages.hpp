#pragma once
// The plugin stages of a route (access, traffic, transform; ARCHITECTURE.md section 4.3),
// compiled once per snapshot. Each plugin is one file in src/plugins/ and one line in the
// registry (src/plugins/stage_registry.cpp); the worker only runs what this returns.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aiproxy/common/metric_cells.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/http/stage.hpp"
#include "aiproxy/plugins/limit_store.hpp"
#include "aiproxy/plugins/route_limits.hpp"

namespace aiproxy::plugins {

using PriceLookup = std::function<std::optional<config::ModelPrice>(std::string_view model)>;

// What the stages of every route share within one snapshot.
struct SharedState {
    // key-auth: SHA-256 hex of a consumer's key -> its username.
    std::unordered_map<std::string, std::string> consumers_by_key;
    // One per process: it outlives every snapshot that points into it.
    std::shared_ptr<LimitStore> limit_store;
    // Consumer groups that have limits, and username -> index into group_limits for their
    // members (consumers of groups without limits are left out).
    std::vector<RouteLimits> group_limits;
    std::unordered_map<std::string, std::size_t> group_of_consumer;
    // The stores of limits with policy redis, one per Redis target (RedisCounterStore::name).
    std::unordered_map<std::string, std::shared_ptr<CounterStore>> redis_stores;
    // The price of a requested model, for budgets in USD; null or nullopt: unpriced.
    PriceLookup price_of;

    // Finds the store of a policy redis in redis_stores (made for every plugin of the config).
    StoreResolver redisStores() const;

    // The limits of the consumer's group; null when it has none.
    const RouteLimits* groupLimits(const std::string& consumer) const;
};

// Throws std::runtime_error when two consumers share a key. cells may be null (nothing is
// recorded).
std::shared_ptr<const SharedState> buildSharedState(const config::Config& config,
                                                    std::shared_ptr<LimitStore> limit_store,
                                                    metrics::CellSource* cells,
                                                    PriceLookup price_of = nullptr);

// Makes the LLM a stage asks itself (ai-request-rewrite's `llm`): an upstream of its own, built
// once per snapshot by whoever builds upstreams. Throws std::runtime_error when it cannot be set
// up (TLS).
using SideLlmFactory =
    std::function<std::shared_ptr<const http::SideLlm>(const config::UpstreamConfig& llm)>;

struct StageBuild {
    const config::RouteConfig& route;
    const SharedState& shared;  // outlives the stages (the snapshot holds both)
    metrics::CellSource* cells = nullptr;
    SideLlmFactory side_llm = nullptr;  // null: a stage that needs an LLM fails its requests
};

// The route's plugin stages in phase order; the proxy stage is not among them.
std::vector<std::unique_ptr<http::Stage>> buildStages(const StageBuild& build);

}  // namespace aiproxy::plugins
