#pragma once

// Builds the YAML config most integration tests need: one ai-proxy route over a primary and an
// optional fallback upstream, served by one worker on 127.0.0.1:0.

#include <string>
#include <utility>
#include <vector>

namespace aiproxy::test {

struct UpstreamNode {
    std::string address;  // "127.0.0.1:<port>"
    int weight = 1;
};

struct GatewayConfig {
    std::vector<UpstreamNode> primary;
    std::vector<UpstreamNode> fallback;  // empty: the route has no fallback upstream
    // Extra keys of each upstream, e.g. {"scheme", "https"}, {"tls", "{verify: false}"}.
    std::vector<std::pair<std::string, std::string>> primary_settings;
    std::vector<std::pair<std::string, std::string>> fallback_settings;
    int retry = 1;
    int timeout_ms = 5000;  // per attempt
    bool enable_upstream_host = true;
    bool expose_upstream_headers = true;
    std::string uri = "/llm/*";
    // Extra keys of the route, e.g. {"log", "{payloads: true}"}.
    std::vector<std::pair<std::string, std::string>> route_settings;
    // Lines under server.limits, e.g. {"max_body_bytes", "1024"}.
    std::vector<std::pair<std::string, std::string>> limits;
    double drain_timeout = 10;

    std::string yaml() const;
};

}  // namespace aiproxy::test
