#pragma once
// "host:port" as written in listen addresses and upstream node keys.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aiproxy::config::detail {

struct HostPort {
    std::string host;                   // IPv6 without brackets
    std::optional<std::uint32_t> port;  // as written; may exceed 65535 (callers check the range)
};

// Accepts "host", "host:port", "[v6]" and "[v6]:port". Returns nullopt for anything else,
// including an IPv6 address without brackets and a host that fails isValidHost.
std::optional<HostPort> parseHostPort(std::string_view text);

// A host name or IPv4 address: non-empty, no spaces, ':' or URL punctuation ("/?#@[]").
bool isValidHost(std::string_view host);

// A host written on its own: a name, an IPv4 address, or an IPv6 address with or without
// brackets. Returns it without brackets, or nullopt when it is none of these.
std::optional<std::string> parseHost(std::string_view text);

}  // namespace aiproxy::config::detail
