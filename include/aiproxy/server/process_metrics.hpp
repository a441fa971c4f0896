#pragma once
// Process metrics read from /proc at scrape time (Prometheus' conventional names), plus
// aiproxy_build_info.

#include <string_view>

#include "aiproxy/observe/metrics_registry.hpp"

namespace aiproxy::server {

void addProcessMetrics(observe::MetricsRegistry& registry, std::string_view version);

}  // namespace aiproxy::server
