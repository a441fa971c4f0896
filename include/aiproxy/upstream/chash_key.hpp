#pragma once
// The consistent-hash key of a request, per the upstream's `hash_on` and `key` (APISIX
// semantics):
//   vars              key names one variable: remote_addr, uri, request_uri, args (or
//                     query_string), host, consumer_name, arg_<name>, http_<name> (request header,
//                     '_' read as '-'), cookie_<name>; a leading '$' is allowed
//   header            key is a request header name
//   cookie            key is a cookie name
//   consumer          the authenticated consumer's name (key unused)
//   vars_combinations key is a template such as "$remote_addr-$arg_user": each $name is
//                     replaced by that variable, the rest is kept
//   session           (ours) key names the header carrying the conversation's id (default
//                     x-session-id); without it, the body's top-level session_id or
//                     conversation_id. The balancer pins sessions (session_pins.hpp).
// An empty result (unknown variable, absent header, no consumer) falls back to remote_addr, so a
// client always lands somewhere stable.

#include <functional>
#include <string>
#include <string_view>

#include "aiproxy/common/url.hpp"
#include "aiproxy/config/config.hpp"

namespace aiproxy::upstream {

struct RequestFacts {
    std::string_view remote_addr;  // client address, without port
    std::string_view uri;          // path, without the query
    std::string_view query;        // raw query string, without '?'
    // The value of a request header (name matched case-insensitively), "" when absent.
    // Cookies are read from its "Cookie". May be empty when the key needs no header.
    std::function<std::string_view(std::string_view name)> header;
    std::string_view consumer;  // authenticated consumer name, "" when none
    // A top-level string (or integer) field of the JSON body, "" when absent. May be empty.
    std::function<std::string(std::string_view name)> body_field;
};

inline constexpr std::string_view kDefaultSessionHeader = "x-session-id";

std::string chashKey(const config::UpstreamConfig& upstream, const RequestFacts& request);

// Building blocks (in common, shared with the admin API), exposed here for tests: the first
// value of a query argument (percent-decoded) and of a cookie; "" when absent.
using common::cookieValue;
using common::queryArgument;

}  // namespace aiproxy::upstream
