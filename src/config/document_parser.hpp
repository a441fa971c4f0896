#pragma once
// Turns the text of a config file into one JSON tree, whichever the format, so a single validator
// serves YAML and JSON alike. Syntax errors are reported with line and column; nothing throws.

#include <optional>
#include <string_view>

#include "json_reader.hpp"

namespace aiproxy::config::detail {

// YAML scalars follow the YAML 1.2 core schema: quoted scalars stay strings; plain ones become
// null, booleans, integers or floats when they read as such. Duplicate keys are errors.
std::optional<Json> parseYaml(std::string_view text, DiagnosticSink& sink);

// Strict JSON (no comments). Duplicate keys are errors rather than silently keeping the last.
std::optional<Json> parseJson(std::string_view text, DiagnosticSink& sink);

}  // namespace aiproxy::config::detail
