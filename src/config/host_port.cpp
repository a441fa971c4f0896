#include "host_port.hpp"

#include <algorithm>
#include <cctype>

namespace aiproxy::config::detail {
namespace {

constexpr std::uint32_t kTooBigPort = 100'000;

std::optional<std::uint32_t> parsePort(std::string_view digits) {
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    if (digits.size() > 5) return kTooBigPort;
    std::uint32_t port = 0;
    for (char c : digits)
        port = port * 10 + static_cast<std::uint32_t>(c - '0');
    return port;
}

bool isValidIpv6(std::string_view address) {
    return address.find(':') != std::string_view::npos &&
           std::all_of(address.begin(), address.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
           });
}

}  // namespace

bool isValidHost(std::string_view host) {
    return !host.empty() && std::none_of(host.begin(), host.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= ' ' || u == 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '[' ||
               c == ']' || c == ':';
    });
}

std::optional<std::string> parseHost(std::string_view text) {
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
        if (!isValidIpv6(text)) return std::nullopt;
        return std::string{text};
    }
    if (isValidIpv6(text) || isValidHost(text)) return std::string{text};
    return std::nullopt;
}

std::optional<HostPort> parseHostPort(std::string_view text) {
    HostPort result;
    std::string_view rest;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view address = text.substr(1, close - 1);
        if (!isValidIpv6(address)) return std::nullopt;
        result.host = std::string{address};
        rest = text.substr(close + 1);
    } else {
        auto colon = text.find(':');
        std::string_view host = text.substr(0, colon);
        if (!isValidHost(host)) return std::nullopt;
        result.host = std::string{host};
        rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    }
    if (rest.empty()) return result;
    if (rest.front() != ':') return std::nullopt;
    result.port = parsePort(rest.substr(1));
    if (!result.port) return std::nullopt;
    return result;
}

}  // namespace aiproxy::config::detail
