#include "support/backend_config.hpp"

namespace aiproxy::test {

std::string BackendConfig::yaml() const {
    std::string out = "server:\n  listen: [\"" + listen +
                      "\"]\n  workers: " + std::to_string(workers) + "\n" + server_extra +
                      "status:\n  listen: \"127.0.0.1:0\"\n"
                      "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: " +
                      admin_key + "}]\n";
    if (!consumer_groups.empty()) out += "consumer_groups:\n" + consumer_groups;
    if (!consumers.empty()) out += "consumers:\n";
    for (const KeyAuthConsumer& consumer : consumers) {
        out += "  - username: " + consumer.username + "\n";
        if (!consumer.group_id.empty()) out += "    group_id: " + consumer.group_id + "\n";
        out += "    plugins: {key-auth: {key: \"" + consumer.key + "\"}}\n";
    }
    out += "upstreams:\n  - id: backend\n    nodes: {\"" + backend + "\": 1}\n" + upstream_extra;
    return out + "routes:\n" + routes + extra;
}

std::string backendRoute(const std::string& id, const std::string& uri, const std::string& plugins,
                         const std::string& route_keys) {
    return "  - id: " + id + "\n    uri: " + uri + "\n" + route_keys +
           "    plugins:\n      ai-proxy: {upstream_id: backend, retry: 0}\n" + plugins;
}

}  // namespace aiproxy::test
