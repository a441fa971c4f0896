#pragma once
// Helpers shared by the config unit tests.

#include <optional>
#include <string>
#include <vector>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::config::test {

// An environment in which no variable is set.
inline EnvLookup noEnvironment() {
    return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

// "path: message" per diagnostic, so expectations read like the daemon's output.
inline std::vector<std::string> messages(const std::vector<Diagnostic>& diagnostics) {
    std::vector<std::string> out;
    for (const Diagnostic& d : diagnostics)
        out.push_back(d.toString());
    return out;
}

// Loads a JSON config of one route "r" on /llm/* with ai-proxy over one upstream "u", plus
// `plugins` (more plugin members), `route_keys` (route members, each followed by ", ") and
// `top_keys` (top-level members, each followed by ", ").
inline LoadResult loadOneRoute(const std::string& plugins, const std::string& route_keys = "",
                               const std::string& top_keys = "") {
    std::string doc = "{" + top_keys +
                      R"("upstreams": [{"id": "u", "nodes": {"127.0.0.1:8000": 1}}],
        "routes": [{"id": "r", "uri": "/llm/*", )" +
                      route_keys + R"("plugins": {"ai-proxy": {"upstream_id": "u"})" +
                      (plugins.empty() ? "" : ", " + plugins) + "}}]}";
    return parseConfig(doc, Format::Json, noEnvironment());
}

}  // namespace aiproxy::config::test
