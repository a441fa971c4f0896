#pragma once
// The ai-proxy stage: the terminal stage of LLM routes (ARCHITECTURE.md section 4, steps 4-7).
// It forwards the request to the primary upstream, retries on other nodes and on the fallback
// upstream before the commit point (the first response body byte), and relays the response as
// it arrives.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aiproxy/ai/pricing.hpp"
#include "aiproxy/common/metric_cells.hpp"

#include "aiproxy/config/config.hpp"
#include "aiproxy/http/http_session.hpp"
#include "aiproxy/upstream/balancer_registry.hpp"
#include "aiproxy/upstream/connection_pool.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace aiproxy::ai {

// How one attempt ended, as metrics and traces label it.
// ClientCancel: the client left before the attempt committed; never held against the node.
enum class AttemptLabel {
    Success,
    ConnectError,
    Timeout,
    Reset,
    Status4xx,
    Status429,
    Status5xx,
    ClientCancel
};
inline constexpr std::size_t kAttemptLabels = 8;
std::string_view attemptLabelName(AttemptLabel label);

// Metric handles of one upstream, resolved when the snapshot is built (null = not recorded).
struct UpstreamMetrics {
    // aiproxy_upstream_attempts_total{upstream,node,outcome}, [node][label]
    std::vector<std::array<metrics::CounterCell*, kAttemptLabels>> attempts;
};

// Token and cost handles of one route for one model label (a priced model, or "other").
struct ModelMetrics {
    // aiproxy_llm_tokens_total{route,upstream,model,type}: [upstream slot][prompt, completion]
    std::vector<std::array<metrics::CounterCell*, 2>> tokens;
    metrics::CounterCell* cost = nullptr;  // aiproxy_llm_cost_usd_total, in nano-dollars
};

// Metric handles of one route, indexed by upstream slot (AiProxyRoute::upstreams).
struct RouteMetrics {
    std::vector<std::array<metrics::CounterCell*, 5>> requests;  // [slot][status class]
    // requests_total with upstream "": answered by the gateway before any upstream was asked
    // (ip-restriction, key-auth, limits), by status class.
    std::array<metrics::CounterCell*, 5> refused{};
    metrics::CounterCell* key_auth_rejected = nullptr;  // key_auth_rejected_total{route}
    std::vector<metrics::CounterCell*> retries;         // retries_total{route,upstream}, [slot]
    metrics::CounterCell* fallbacks = nullptr;          // fallbacks_total{route,from,to}
    metrics::HistogramCell* duration = nullptr;
    metrics::HistogramCell* time_to_first_token = nullptr;
    metrics::GaugeCell* active_streams = nullptr;
    std::vector<const UpstreamMetrics*> upstreams;  // [slot]
    // Keyed by the price table's model names; anything else counts as "other", so clients
    // inventing model names cannot grow the label set.
    std::unordered_map<std::string, ModelMetrics> models;
    ModelMetrics other_model;
};

enum class StreamOutcome { None, Complete, ClientCancel, UpstreamCut };

// Process-wide data-path handles (one registry; each worker writes its own slot).
struct DataPathMetrics {
    std::array<metrics::CounterCell*, 3>
        stream_outcomes{};  // complete, client_cancel, upstream_cut
    metrics::HistogramCell* overhead = nullptr;
    metrics::GaugeCell* connections_idle = nullptr;
    metrics::GaugeCell* connections_active = nullptr;
    metrics::CounterCell* log_suppressed = nullptr;  // aiproxy_log_lines_suppressed_total
};

// One attempt as the access log and the trace header show it.
struct AttemptTrace {
    std::string upstream_id;
    std::string node;
    AttemptLabel label = AttemptLabel::Success;
    unsigned status = 0;  // 0 when no response arrived
    double ms = 0;        // attempt time until it failed or the first body byte arrived
};

// What happened to one request, for metrics and the access log.
struct ProxyResult {
    const std::string* upstream_id = nullptr;  // the upstream that answered or failed last
    std::size_t upstream_slot = 0;             // its index in AiProxyRoute::upstreams
    std::string node;
    int attempts = 0;
    std::vector<AttemptTrace> trace;
    std::optional<double> time_to_first_token;  // seconds, from sending to the first body byte
    StreamOutcome stream = StreamOutcome::None;
    double upstream_seconds = 0;  // time spent waiting on upstreams (for the overhead metric)
    std::string consumer;         // authenticated by key-auth, "" when none
    std::string request_model;    // as the client asked
    std::string served_model;     // as the upstream reported it
    std::optional<std::uint64_t> prompt_tokens;
    std::optional<std::uint64_t> completion_tokens;
    std::optional<double> cost_usd;
    const std::string* priced_model = nullptr;  // the price table's name for served_model
};

// A route's ai-proxy or ai-proxy-multi settings with its upstreams resolved, built once per
// snapshot. Both plugins run the same stage: only the sets the balancers pick from differ.
struct AiProxyRoute {
    std::string route_id;
    // timeout, retry and retry_on; ai-proxy-multi's are derived from its own fields.
    config::AiProxyConfig config;
    bool retry_failures = true;  // connect failures, timeouts and resets move on
    std::optional<config::Milliseconds> retry_only_within;
    // Slots: ai-proxy: primary, then the fallback if any; ai-proxy-multi: its instances.
    std::vector<std::shared_ptr<const upstream::Upstream>> upstreams;
    bool multi = false;
    const upstream::BalancedSet* primary_set = nullptr;         // never null once built
    const upstream::BalancedSet* fallback_set = nullptr;        // ai-proxy's fallback upstream
    std::shared_ptr<const upstream::BalancedSet> instance_set;  // owns ai-proxy-multi's set
    std::optional<config::KeyAuthConfig> key_auth;  // checked by the worker before the stage
    bool expose_upstream_headers = true;
    config::RouteLogConfig log;  // the worker's access log reads it
    std::size_t max_response_header_bytes = 64 * 1024;
    std::size_t max_response_body_bytes = 256 * 1024 * 1024;
    std::shared_ptr<const PriceTable> prices;  // never null once built
    RouteMetrics metrics;
};

// Worker-owned state the stage uses; never shared across threads.
struct WorkerServices {
    upstream::ConnectionPool& pool;
    upstream::DnsCache& dns;
    upstream::BalancerRegistry& balancers;
    std::size_t metrics_slot = 0;
    const DataPathMetrics* metrics = nullptr;
    // Asynchronous: a worker hands a line to the logging thread instead of writing stderr under
    // its lock. Null: spdlog's default logger.
    spdlog::logger* log = nullptr;
};

// What '*' matched in the route's uri, or the whole path for an exact route.
struct ForwardPath {
    bool prefix = false;
    std::string_view rest;
};

// consumer: the key-auth consumer's name ("" when the route has no key-auth), for chash and
// the access log.
http::awaitable<ProxyResult> proxyRequest(const AiProxyRoute& route, const ForwardPath& forward,
                                          http::ClientRequest& request, http::ResponseSink& sink,
                                          WorkerServices& services, std::string_view consumer = {});

}  // namespace aiproxy::ai
