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

}  // namespace aiproxy::config::test
