#include "tracing_setup.hpp"

#include <spdlog/spdlog.h>

#include "single_instance.hpp"

namespace aiproxy::server {

std::unique_ptr<observe::TraceExporter> startTracing(const config::TracingConfig& tracing,
                                                     ServerMetrics& metrics) {
    if (!tracing.enabled()) return nullptr;
    auto exporter = std::make_unique<observe::TraceExporter>(
        observe::TraceExportSettings{.host = tracing.host,
                                     .port = tracing.port,
                                     .target = tracing.target,
                                     .headers = tracing.headers,
                                     .max_spans = tracing.batch.max_spans,
                                     .max_delay = tracing.batch.max_delay,
                                     .max_queue = tracing.batch.max_queue,
                                     .service_version = AIPROXY_VERSION});
    metrics.trace_exporter = exporter.get();
    metrics.trace_sample_ratio = tracing.sample_ratio;
    spdlog::info("tracing: spans to http://{}{} (sample ratio {})",
                 displayAddress(tracing.host, tracing.port), tracing.target, tracing.sample_ratio);
    return exporter;
}

void addTraceMetrics(observe::MetricsRegistry& registry,
                     const std::unique_ptr<observe::TraceExporter>& exporter) {
    registry.addCollector([&exporter](std::string& out) {
        auto dropped = exporter ? exporter->dropped() : 0;
        auto exported = exporter ? exporter->exported() : 0;
        out +=
            "# HELP aiproxy_trace_spans_dropped_total Spans not exported: the queue was full or "
            "the collector did not take them.\n"
            "# TYPE aiproxy_trace_spans_dropped_total counter\n"
            "aiproxy_trace_spans_dropped_total ";
        out += std::to_string(dropped);
        out +=
            "\n# HELP aiproxy_trace_spans_exported_total Spans the collector accepted.\n"
            "# TYPE aiproxy_trace_spans_exported_total counter\n"
            "aiproxy_trace_spans_exported_total ";
        out += std::to_string(exported);
        out += '\n';
    });
}

}  // namespace aiproxy::server
