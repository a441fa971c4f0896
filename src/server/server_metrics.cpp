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

void addStoreMetrics(observe::MetricsRegistry& registry, std::function<bool()> up,
                     std::function<std::uint64_t()> invalid) {
    registry.addCollector([up = std::move(up), invalid = std::move(invalid)](std::string& out) {
        out +=
            "# HELP aiproxy_config_store_up Whether the config store (storage.type) takes "
            "writes: 0 while etcd is unreachable (the last configuration keeps serving).\n"
            "# TYPE aiproxy_config_store_up gauge\naiproxy_config_store_up ";
        out += up() ? "1\n" : "0\n";
        out +=
            "# HELP aiproxy_config_store_invalid_objects_total Stored objects left out because "
            "they do not validate (each problem once).\n"
            "# TYPE aiproxy_config_store_invalid_objects_total counter\n"
            "aiproxy_config_store_invalid_objects_total ";
        out += std::to_string(invalid());
        out += "\n";
    });
}

}  // namespace aiproxy::server
