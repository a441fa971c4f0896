#pragma once

#include "aiproxy/observe/metrics_registry.hpp"
#include "aiproxy/server/worker.hpp"

namespace aiproxy::server {

// Resolves the process-wide data-path handles the workers record into (stream outcomes,
// overhead, upstream connections, suppressed log lines, unrouted requests).
void registerDataPathMetrics(observe::MetricsRegistry& registry, ServerMetrics& metrics);

}  // namespace aiproxy::server
