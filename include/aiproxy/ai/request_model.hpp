#pragma once
// The "model" a request asks for, read without parsing the JSON body: logs and metrics want it
// for every request, and a full parse of a large prompt would cost more than the proxying.

#include <optional>
#include <string_view>

namespace aiproxy::ai {

// The value of the first "model" key whose value is a plain string (no escapes), or nullopt.
// A key can only appear as `"model"` followed by ':'; inside a JSON string the quotes would be
// escaped, so prompt text cannot fake it. A nested object's "model" key that precedes the top
// level one would be taken instead: acceptable for logging, not for routing decisions.
std::optional<std::string_view> findRequestModel(std::string_view body);

}  // namespace aiproxy::ai
