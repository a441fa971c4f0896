#pragma once

// Builds the YAML config of the DaemonFixture suites: routes over one upstream `backend`, consumers
// with key-auth keys, and the status endpoint and Admin API on port 0, which the fixture finds in
// the daemon's log.

#include <string>
#include <vector>

namespace aiproxy::test {

/// A consumer with a key-auth key, in the consumer group `group_id` unless it is empty.
struct KeyAuthConsumer {
    std::string username;
    std::string key;
    std::string group_id = {};
};

struct BackendConfig {
    std::string backend;  // the upstream's one node, "127.0.0.1:<port>"
    std::string admin_key;
    int workers = 1;
    std::string listen = "127.0.0.1:0";
    std::string server_extra;     // lines under server (2 spaces in), e.g. real_ip
    std::string consumer_groups;  // entries of consumer_groups (YAML, 2 spaces in); none if empty
    std::vector<KeyAuthConsumer> consumers;
    std::string upstream_extra;  // lines under the upstream (4 spaces in)
    std::string routes;          // entries of routes, e.g. backendRoute(...)
    std::string extra;           // top-level sections after the routes, e.g. pricing

    std::string yaml() const;
};

/// A route entry `id` on `uri` with ai-proxy over the backend (no retry), `route_keys` (route-level
/// YAML lines, 4 spaces in) and `plugins` next to ai-proxy (YAML lines, 6 spaces in).
std::string backendRoute(const std::string& id, const std::string& uri,
                         const std::string& plugins = "", const std::string& route_keys = "");

}  // namespace aiproxy::test
