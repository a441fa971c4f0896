#pragma once
// Snapshot: the immutable, compiled configuration requests read (ARCHITECTURE.md section 3).
// Built on the control thread, shared with workers as shared_ptr<const Snapshot>; a request
// keeps the pointer it started with, so reloads never mix or drop in-flight requests.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/common/real_ip.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/observe/metrics_registry.hpp"
#include "aiproxy/plugins/stages.hpp"
#include "aiproxy/router/route_table.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::server {

// One route compiled for the data path: its ordered stages (ARCHITECTURE.md section 4.3).
struct CompiledRoute {
    std::string id;
    std::vector<std::unique_ptr<http::Stage>> stages;  // access, traffic, transforms
    std::unique_ptr<ai::ProxyStage> proxy;  // the terminal stage; null only if validation slipped
    config::RouteLogConfig log;             // the access log reads it
    // requests_total with upstream "": answered by the gateway before any upstream was asked
    // (ip-restriction, key-auth, limits), by status class.
    std::array<metrics::CounterCell*, 5> refused{};
};

// Token and cost handles of one consumer, so usage can be read per caller (the status page's
// last hour by consumer): aiproxy_consumer_tokens_total{consumer,type} and
// aiproxy_consumer_cost_usd_total{consumer}, in nano-dollars.
struct ConsumerMetrics {
    metrics::CounterCell* prompt_tokens = nullptr;
    metrics::CounterCell* completion_tokens = nullptr;
    metrics::CounterCell* cost = nullptr;
};

struct Snapshot {
    router::RouteTable routes;
    // What the plugin stages share: consumers' keys, the limit store, consumer groups. Declared
    // before the routes, whose stages refer to it, so it is destroyed after them.
    std::shared_ptr<const plugins::SharedState> plugins{};
    std::vector<CompiledRoute> compiled{};  // index-aligned with the config's routes
    std::vector<std::shared_ptr<const upstream::Upstream>> upstreams{};
    // The LLMs stages ask themselves (ai-request-rewrite's `llm`, id "ai-request-rewrite@<route>").
    std::vector<std::shared_ptr<const upstream::Upstream>> side_upstreams{};
    std::vector<std::unique_ptr<ai::UpstreamMetrics>> upstream_metrics{};  // referenced by routes
    // By consumer id (the config's consumers only, so clients cannot grow the label set).
    std::unordered_map<std::string, ConsumerMetrics> consumer_metrics{};
    // Every set a worker balances over: each upstream's and each ai-proxy-multi route's; and the
    // side upstreams', so that workers keep their pooled connections and DNS answers.
    std::vector<const upstream::BalancedSet*> balanced_sets{};
    // server.real_ip; unset: the client is the TCP peer.
    std::optional<common::RealIp> real_ip{};

    // The proxy stage's settings of route `id`; null when it has none.
    const ai::AiProxyRoute* proxyOf(std::string_view id) const;

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
