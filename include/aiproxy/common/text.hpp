#pragma once
// Text helpers for protocol values: the one whitespace trim of the project.

#include <string_view>

namespace aiproxy::common {

// Strips optional whitespace, space and horizontal tab only (RFC 9110 section 5.6.3: OWS), from
// both ends: header values, list elements, cookie pairs.
constexpr std::string_view trimWhitespace(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

}  // namespace aiproxy::common
