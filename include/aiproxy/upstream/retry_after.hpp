#pragma once
// Retry-After (RFC 9110 section 10.2.3): either delay-seconds or an HTTP-date. A 429 or 503 that
// carries it tells us exactly how long the node wants no traffic, which beats any guess.

#include <chrono>
#include <optional>
#include <string_view>

namespace aiproxy::upstream {

// The delay the header asks for, from wall_now: delay-seconds, or an HTTP-date in any of the
// three formats RFC 9110 accepts (IMF-fixdate, RFC 850, asctime). A date in the past gives zero.
// nullopt for an empty or malformed value. Huge values saturate instead of overflowing.
std::optional<std::chrono::milliseconds> parseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point wall_now);

// The instant an HTTP-date names, or nullopt when value is not one.
std::optional<std::chrono::system_clock::time_point> parseHttpDate(std::string_view value);

}  // namespace aiproxy::upstream
