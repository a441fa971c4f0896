#include "support/gateway_config.hpp"

#include <sstream>

namespace aiproxy::test {
namespace {

std::string nodeMap(const std::vector<UpstreamNode>& nodes) {
    std::string out = "{";
    for (const auto& node : nodes) {
        if (out.size() > 1) out += ", ";
        out += "\"" + node.address + "\": " + std::to_string(node.weight);
    }
    return out + "}";
}

const char* yamlBool(bool value) {
    return value ? "true" : "false";
}

}  // namespace

std::string GatewayConfig::yaml() const {
    std::ostringstream out;
    out << "server:\n"
        << "  listen: [\"127.0.0.1:0\"]\n"
        << "  workers: 1\n"
        << "  drain_timeout: " << drain_timeout << "\n";
    if (!limits.empty()) {
        out << "  limits:\n";
        for (const auto& [name, value] : limits)
            out << "    " << name << ": " << value << "\n";
    }
    out << "log:\n  level: info\n"
        << "upstreams:\n"
        << "  - id: primary\n"
        << "    nodes: " << nodeMap(primary) << "\n";
    if (!fallback.empty()) {
        out << "  - id: fallback\n"
            << "    nodes: " << nodeMap(fallback) << "\n";
    }
    out << "routes:\n"
        << "  - id: llm_route\n"
        << "    uri: " << uri << "\n"
        << "    expose_upstream_headers: " << yamlBool(expose_upstream_headers) << "\n"
        << "    plugins:\n"
        << "      ai-proxy:\n"
        << "        upstream_id: primary\n";
    if (!fallback.empty()) out << "        upstream_fallback_id: fallback\n";
    out << "        timeout: " << timeout_ms << "\n"
        << "        retry: " << retry << "\n"
        << "        enable_upstream_host: " << yamlBool(enable_upstream_host) << "\n"
        << "        retry_on: [429, 500, 502, 503, 504]\n";
    return out.str();
}

}  // namespace aiproxy::test
