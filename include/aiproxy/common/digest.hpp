#pragma once
// SHA-256, for keys that must never be stored in clear.

#include <string>
#include <string_view>

namespace aiproxy::common {

// Lower-case hex of SHA-256(text): 64 characters.
std::string sha256Hex(std::string_view text);

}  // namespace aiproxy::common
