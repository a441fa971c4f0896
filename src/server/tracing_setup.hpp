#pragma once
// The process side of tracing: the exporter made from tracing.*, and its counters in /metrics.

#include <chrono>
#include <memory>

#include "aiproxy/config/config.hpp"
#include "aiproxy/observe/metrics_registry.hpp"
#include "aiproxy/observe/trace_exporter.hpp"
#include "aiproxy/server/worker.hpp"

namespace aiproxy::server {

// Shutdown sends the spans still queued for at most this long, after the workers stopped.
inline constexpr std::chrono::seconds kTraceFlushBound{2};

// Null when tracing.endpoint is unset; else the running exporter, also set in `metrics` for
// the workers (with the sample ratio).
std::unique_ptr<observe::TraceExporter> startTracing(const config::TracingConfig& tracing,
                                                     ServerMetrics& metrics);

// aiproxy_trace_spans_dropped_total and aiproxy_trace_spans_exported_total, read at scrape time
// from `exporter` (0 while it is null). `exporter` is the owner's member, read when scraped.
void addTraceMetrics(observe::MetricsRegistry& registry,
                     const std::unique_ptr<observe::TraceExporter>& exporter);

}  // namespace aiproxy::server
