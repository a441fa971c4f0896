#pragma once
// Snapshot: the immutable, compiled configuration requests read (ARCHITECTURE.md section 3).
// Built on the control thread, shared with workers as shared_ptr<const Snapshot>; a request
// keeps the pointer it started with, so reloads never mix or drop in-flight requests.

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/common/real_ip.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/observe/metrics_registry.hpp"
#include "aiproxy/plugins/ip_restriction.hpp"
#include "aiproxy/plugins/route_limits.hpp"
#include "aiproxy/router/route_table.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::server {

struct Snapshot {
    router::RouteTable routes;
    std::vector<ai::AiProxyRoute> ai_routes;  // index-aligned with the config's routes
    std::vector<std::shared_ptr<const upstream::Upstream>> upstreams;
    std::vector<std::unique_ptr<ai::UpstreamMetrics>> upstream_metrics;  // referenced by routes
    // Every set a worker balances over: each upstream's and each ai-proxy-multi route's.
    std::vector<const upstream::BalancedSet*> balanced_sets;
    // key-auth: SHA-256 hex of a consumer's key -> its username.
    std::unordered_map<std::string, std::string> consumers_by_key;
    // Traffic plugins and max_concurrent, index-aligned with ai_routes, counting in limit_store
    // (one per process: it outlives every snapshot that points into it).
    std::vector<plugins::RouteLimits> route_limits;
    std::shared_ptr<plugins::LimitStore> limit_store;
    // ip-restriction, index-aligned with ai_routes (nullopt: the route has none).
    std::vector<std::optional<plugins::IpRestriction>> ip_restrictions;
    // server.real_ip; unset: the client is the TCP peer.
    std::optional<common::RealIp> real_ip;
    // Consumer groups that have limits, and username -> index into group_limits for their
    // members (consumers of groups without limits are left out).
    std::vector<plugins::RouteLimits> group_limits;
    std::unordered_map<std::string, std::size_t> group_of_consumer;

    // The limits of the consumer's group; null when it has none.
    const plugins::RouteLimits* groupLimits(const std::string& consumer) const {
        if (consumer.empty() || group_of_consumer.empty()) return nullptr;
        auto found = group_of_consumer.find(consumer);
        return found == group_of_consumer.end() ? nullptr : &group_limits[found->second];
    }

    // Reuses the previous snapshot's Upstream objects whose settings did not change (their TLS
    // contexts and session caches survive), carries node state (health, in-flight counts,
    // latency) over wherever the nodes and checks did not change, and resolves every metric handle
    // the data path uses (registry may be null: nothing is recorded). Limits count in
    // limit_store, else in the previous snapshot's store, else in a new one. Throws
    // std::runtime_error on TLS failure.
    static std::shared_ptr<const Snapshot> build(
        const config::Config& config, const Snapshot* previous, observe::MetricsRegistry* registry,
        std::shared_ptr<plugins::LimitStore> limit_store = nullptr);
};

}  // namespace aiproxy::server
