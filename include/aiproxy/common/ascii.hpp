#pragma once
// ASCII case-insensitive comparison for protocol tokens (header names, schemes, "chunked").
// Beast 1.81's iequals reads one byte past the end of its arguments when the last characters
// differ only in case (found by request_head_fuzzer under ASan), so the project uses this one.

#include <string_view>

namespace aiproxy::common {

constexpr char asciiLower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (asciiLower(a[i]) != asciiLower(b[i])) return false;
    }
    return true;
}

constexpr bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

}  // namespace aiproxy::common
