#include "support/gateway_config.hpp"

#include <ostream>
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

// Keys at the second level of nesting: server.limits, an upstream's settings.
void writeSettings(std::ostream& out,
                   const std::vector<std::pair<std::string, std::string>>& settings) {
    for (const auto& [name, value] : settings)
        out << "    " << name << ": " << value << "\n";
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
        writeSettings(out, limits);
    }
    // A free port: parallel daemons must not fight over the default 127.0.0.1:9091.
    out << "status:\n  listen: \"127.0.0.1:0\"\n";
    out << "admin:\n  listen: \"127.0.0.1:0\"\n";
    out << "log:\n  level: info\n"
        << "upstreams:\n"
        << "  - id: primary\n"
        << "    nodes: " << nodeMap(primary) << "\n";
    writeSettings(out, primary_settings);
    if (!fallback.empty()) {
        out << "  - id: fallback\n"
            << "    nodes: " << nodeMap(fallback) << "\n";
        writeSettings(out, fallback_settings);
    }
    out << "routes:\n"
        << "  - id: llm_route\n"
        << "    uri: " << uri << "\n"
        << "    expose_upstream_headers: " << yamlBool(expose_upstream_headers) << "\n";
    writeSettings(out, route_settings);
    out << "    plugins:\n"
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
