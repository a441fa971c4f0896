#include "aiproxy/http/header_rules.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <vector>

#include "aiproxy/common/ascii.hpp"
#include "aiproxy/common/text.hpp"

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

// The header names a Connection header lists (RFC 9110 section 7.6.1).
std::vector<std::string> namedByConnection(const boost::beast::http::fields& fields) {
    std::vector<std::string> named;
    auto [first, last] = fields.equal_range(boost::beast::http::field::connection);
    for (auto it = first; it != last; ++it) {
        std::string_view value = it->value();
        while (!value.empty()) {
            auto comma = value.find(',');
            auto token = common::trimWhitespace(value.substr(0, comma));
            if (!token.empty()) named.emplace_back(token);
            value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        }
    }
    return named;
}

}  // namespace

bool isHopByHop(std::string_view name) {
    return std::any_of(kHopByHop.begin(), kHopByHop.end(), [name](std::string_view hop) {
        return common::equalsIgnoreCase(name, hop);
    });
}

void removeHopByHop(boost::beast::http::fields& fields) {
    for (const auto& name : namedByConnection(fields))
        fields.erase(name);
    for (auto hop : kHopByHop)
        fields.erase(hop);
}

void appendEndToEndFields(std::string& out, const boost::beast::http::fields& fields,
                          const std::vector<std::string_view>& skip) {
    auto named = namedByConnection(fields);
    for (const auto& field : fields) {
        std::string_view name = field.name_string();
        auto same = [name](std::string_view other) {
            return common::equalsIgnoreCase(name, other);
        };
        if (isHopByHop(name) || std::any_of(skip.begin(), skip.end(), same) ||
            std::any_of(named.begin(), named.end(), same)) {
            continue;
        }
        out += name;
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
}

std::string combinedFieldValue(const boost::beast::http::fields& fields, std::string_view name) {
    std::string out;
    auto [first, last] = fields.equal_range(name);
    for (auto field = first; field != last; ++field) {
        if (!out.empty()) out += ", ";
        out += field->value();
    }
    return out;
}

std::string appendForwardedFor(std::string_view existing, std::string_view peer) {
    existing = common::trimWhitespace(existing);
    if (existing.empty()) return std::string(peer);
    std::string out(existing);
    out += ", ";
    out += peer;
    return out;
}

}  // namespace aiproxy::http
