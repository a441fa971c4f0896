#pragma once

#include <cstdint>
#include <functional>

#include "aiproxy/observe/metrics_registry.hpp"
#include "aiproxy/server/worker.hpp"

namespace aiproxy::server {

// Resolves the process-wide data-path handles the workers record into (stream outcomes,
// overhead, upstream connections, suppressed log lines, unrouted requests).
void registerDataPathMetrics(observe::MetricsRegistry& registry, ServerMetrics& metrics);

// aiproxy_config_store_up (up(): the store takes writes; false while etcd is unreachable) and
// aiproxy_config_store_invalid_objects_total (invalid(): stored objects left out), read at
// each scrape.
void addStoreMetrics(observe::MetricsRegistry& registry, std::function<bool()> up,
                     std::function<std::uint64_t()> invalid);

}  // namespace aiproxy::server
