#pragma once
// The request target as the gateway routes and forwards it (RFC 9112 section 3.2, RFC 3986
// section 5.2.4). Route matching sees the same path the upstream gets, so "/llm/../admin" cannot
// match /llm/* and then reach /admin upstream with the gateway's credentials.

#include <optional>
#include <string>
#include <string_view>

namespace aiproxy::http {

struct RequestTarget {
    // Dot segments removed ("%2e" counts as '.' for that purpose only; nothing else is decoded);
    // set only when that changed the path, else the caller keeps its view of the original.
    std::optional<std::string> normalized_path;
    std::string_view path;       // the path as received (origin-form), or within absolute-form
    std::string_view query;      // after '?', without it; empty when none
    std::string_view authority;  // absolute-form only: "host[:port]", which replaces Host
    std::string problem;         // non-empty: answer 400 with it
};

// Splits and checks a request target: origin-form ("/p?q"), absolute-form ("http://h/p?q") or
// asterisk-form ("*"). A fragment ("#...") is cut off; a path that climbs above the root is a
// problem. Views point into `target`.
RequestTarget parseRequestTarget(std::string_view target);

}  // namespace aiproxy::http
