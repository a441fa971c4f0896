#include "aiproxy/http/header_rules.hpp"

#include <array>
#include <boost/beast/core/string.hpp>
#include <vector>

namespace aiproxy::http {
namespace {

constexpr std::array<std::string_view, 9> kHopByHop{"connection",
                                                    "keep-alive",
                                                    "proxy-connection",
                                                    "proxy-authenticate",
                                                    "proxy-authorization",
                                                    "te",
                                                    "trailer",
                                                    "transfer-encoding",
                                                    "upgrade"};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

bool isHopByHop(std::string_view name) {
    for (auto hop : kHopByHop) {
        if (boost::beast::iequals(name, hop)) return true;
    }
    return false;
}

void removeHopByHop(boost::beast::http::fields& fields) {
    std::vector<std::string> named;
    for (auto it = fields.find(boost::beast::http::field::connection); it != fields.end(); ++it) {
        if (!boost::beast::iequals(it->name_string(), "connection")) break;
        std::string_view value = it->value();
        while (!value.empty()) {
            auto comma = value.find(',');
            auto token = trim(value.substr(0, comma));
            if (!token.empty()) named.emplace_back(token);
            value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        }
    }
    for (const auto& name : named)
        fields.erase(name);
    for (auto hop : kHopByHop)
        fields.erase(hop);
}

std::string appendForwardedFor(std::string_view existing, std::string_view peer) {
    existing = trim(existing);
    if (existing.empty()) return std::string(peer);
    std::string out(existing);
    out += ", ";
    out += peer;
    return out;
}

}  // namespace aiproxy::http
