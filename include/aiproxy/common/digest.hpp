#pragma once
// SHA-256 and constant-time comparison, for keys that must never be stored or compared in clear.

#include <string>
#include <string_view>

namespace aiproxy::common {

// Lower-case hex of SHA-256(text): 64 characters.
std::string sha256Hex(std::string_view text);

// Equal contents, in time that depends only on the lengths.
bool constantTimeEqual(std::string_view a, std::string_view b);

}  // namespace aiproxy::common
