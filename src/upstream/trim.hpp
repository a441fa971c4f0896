#pragma once
// Optional whitespace (RFC 9110 section 5.6.3) around header values and their parts.

#include <string_view>

namespace aiproxy::upstream {

inline std::string_view trimWhitespace(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

}  // namespace aiproxy::upstream
