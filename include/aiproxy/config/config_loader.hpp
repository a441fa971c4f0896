#pragma once
// Loading, environment expansion and validation of the config file. Every problem is reported
// with the path of the field it concerns, so users can fix a file in one pass.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/config/config.hpp"

namespace aiproxy::config {

struct Diagnostic {
    std::string path;     // "routes[2].plugins.ai-proxy.retry", or "" for the whole file
    std::string message;  // "must be >= 0"
    std::string toString() const { return path.empty() ? message : path + ": " + message; }
};

struct LoadResult {
    std::optional<Config> config;      // set only when errors is empty
    std::vector<Diagnostic> errors;    // every error found, in file order
    std::vector<Diagnostic> warnings;  // accepted but suspicious (unknown plugin keys, retry 0 ...)
    // The document after env expansion (set with config): the admin export shows file objects.
    std::shared_ptr<const nlohmann::ordered_json> document;
};

enum class Format { Yaml, Json };

// Returns the value of an environment variable, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup processEnvironment();

// Replaces ${NAME} and ${NAME:-default} in text. A variable that is unset and has no default is
// an error naming it and its line. Lines whose first non-blank character is '#' are left alone.
std::string expandEnvironment(std::string_view text, const EnvLookup& env,
                              std::vector<Diagnostic>& errors);

// Parses (after env expansion) and validates one config document.
LoadResult parseConfig(std::string_view text, Format format, const EnvLookup& env);

// Reads a file; the format follows the extension (.yaml/.yml or .json). An unreadable file or an
// unknown extension is an error naming the file.
LoadResult loadConfigFile(const std::string& path, const EnvLookup& env = processEnvironment());

}  // namespace aiproxy::config
