#include "server_metrics.hpp"

namespace aiproxy::server {

void registerDataPathMetrics(observe::MetricsRegistry& registry, ServerMetrics& metrics) {
    auto& data_path = metrics.data_path;
    const char* outcomes[] = {"complete", "client_cancel", "upstream_cut"};
    for (std::size_t i = 0; i < data_path.stream_outcomes.size(); ++i) {
        data_path.stream_outcomes[i] = registry.counter("aiproxy_llm_stream_outcomes_total",
                                                        "Relayed event streams, by how they ended.",
                                                        {{"outcome", outcomes[i]}});
    }
    data_path.overhead =
        registry.histogram("aiproxy_gateway_overhead_seconds",
                           "Time a request spent in the gateway itself, upstream waits excluded.",
                           observe::overheadBuckets());
    const char* help = "Upstream connections of all workers, by state.";
    data_path.connections_idle =
        registry.gauge("aiproxy_upstream_connections", help, {{"state", "idle"}});
    data_path.connections_active =
        registry.gauge("aiproxy_upstream_connections", help, {{"state", "active"}});
    data_path.log_suppressed = registry.counter(
        "aiproxy_log_lines_suppressed_total",
        "Failure log lines left out because the same node failed again within 5 s.");
    metrics.unrouted = registry.counter("aiproxy_http_requests_total",
                                        "Requests answered, by route, upstream and status class.",
                                        {{"route", ""}, {"upstream", ""}, {"status_class", "4xx"}});
}

}  // namespace aiproxy::server
