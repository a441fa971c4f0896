#pragma once
// The JSON the Admin API shows for GET /apisix/admin/{upstreams|routes}/{id}/health.

#include <string_view>

#include <string>

#include "aiproxy/config/objects.hpp"
#include "aiproxy/server/snapshot.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::server {

// {"id", "nodes": [{address, weight, priority, state, consecutive_failures, ...}],
//  "failing_open"}; names are the instance names for an ai-proxy-multi route.
config::Document healthReport(std::string_view id, const upstream::UpstreamRuntime& runtime,
                              const std::vector<std::string>& names = {});

// aiproxy_upstream_node_healthy{upstream,node} and aiproxy_upstream_node_ejections_total, read
// from the snapshot's node state at scrape time (ai-proxy-multi instances under their names).
void appendNodeMetrics(std::string& out, const Snapshot& snapshot);

}  // namespace aiproxy::server
