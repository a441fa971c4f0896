#pragma once
// Small pieces of URL and cookie syntax shared by the admin API and the hash balancer.

#include <string>
#include <string_view>

namespace aiproxy::common {

// %XX decoded and '+' read as a space (form encoding); malformed escapes stay as they are.
std::string percentDecode(std::string_view text);

// The decoded value of the first `name` parameter of a raw query string ("" when absent).
std::string queryArgument(std::string_view query, std::string_view name);

// The value of cookie `name` in a Cookie header (quotes and optional whitespace removed).
std::string_view cookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace aiproxy::common
