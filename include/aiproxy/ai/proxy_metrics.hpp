#pragma once
// Metric handles of the proxy stage, resolved when the snapshot is built (null = not recorded),
// so the data path never looks a series up by name.

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aiproxy/common/metric_cells.hpp"

namespace aiproxy::ai {

// How one attempt ended, as metrics and traces label it.
// ClientCancel: the client left before the attempt committed; never held against the node.
// HedgeCancelled: another attempt of the request (ai-proxy's hedge) committed first; neither.
enum class AttemptLabel {
    Success,
    ConnectError,
    Timeout,
    Reset,
    Status4xx,
    Status429,
    Status5xx,
    ClientCancel,
    StreamError,
    HedgeCancelled
};
inline constexpr std::size_t kAttemptLabels = 10;
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

// The index of a status's class in a [5] array of status-class cells (1xx..5xx); anything
// outside 100..599 counts as 5xx.
inline std::size_t statusClassIndex(unsigned status) {
    return status >= 100 && status < 600 ? status / 100 - 1 : 4;
}

// Metric handles of one route, indexed by upstream slot (AiProxyRoute::upstreams).
struct RouteMetrics {
    std::vector<std::array<metrics::CounterCell*, 5>> requests;  // [slot][status class]
    std::vector<metrics::CounterCell*> retries;  // retries_total{route,upstream}, [slot]
    metrics::CounterCell* fallbacks = nullptr;   // fallbacks_total{route,from,to}
    // aiproxy_retry_budget_exhausted_total{upstream}: the primary set's upstream
    metrics::CounterCell* retry_budget_exhausted = nullptr;
    // aiproxy_hedges_sent_total / aiproxy_hedges_won_total{route,upstream}, [slot] of the hedge;
    // empty when the route does not hedge.
    std::vector<metrics::CounterCell*> hedges_sent;
    std::vector<metrics::CounterCell*> hedges_won;
    metrics::HistogramCell* duration = nullptr;
    metrics::HistogramCell* time_to_first_token = nullptr;
    metrics::GaugeCell* active_streams = nullptr;
    // aiproxy_response_redactions_total{route}; only routes with ai-response-rewrite have it.
    metrics::CounterCell* redactions = nullptr;
    std::vector<const UpstreamMetrics*> upstreams;  // [slot]
    // Keyed by the price table's model names; anything else counts as "other", so clients
    // inventing model names cannot grow the label set.
    std::unordered_map<std::string, ModelMetrics> models;
    ModelMetrics other_model;
};

// Process-wide data-path handles (one registry; each worker writes its own slot).
struct DataPathMetrics {
    std::array<metrics::CounterCell*, 3>
        stream_outcomes{};  // complete, client_cancel, upstream_cut
    metrics::HistogramCell* overhead = nullptr;
    metrics::GaugeCell* connections_idle = nullptr;
    metrics::GaugeCell* connections_active = nullptr;
    metrics::CounterCell* log_suppressed = nullptr;  // aiproxy_log_lines_suppressed_total
};

}  // namespace aiproxy::ai
