#include "aiproxy/common/real_ip.hpp"

#include <optional>

#include "aiproxy/common/text.hpp"

namespace aiproxy::common {
namespace {

namespace ip = boost::asio::ip;

// One list entry: an IPv4 or IPv6 address, the latter also in brackets ("[2001:db8::1]", as
// RFC 7239 writes it). Ports and obfuscated names ("unknown", "_hidden") are not addresses.
std::optional<ip::address> parseEntry(std::string_view entry) {
    if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']') {
        entry = entry.substr(1, entry.size() - 2);
        if (entry.find(':') == std::string_view::npos) return std::nullopt;
    }
    if (entry.empty() || entry.size() > 64) return std::nullopt;
    boost::system::error_code ec;
    auto address = ip::make_address(std::string(entry), ec);
    if (ec) return std::nullopt;
    return address;
}

}  // namespace

RealIp::RealIp(std::string header, std::vector<Cidr> trusted, bool recursive)
    : header_(std::move(header)), trusted_(std::move(trusted)), recursive_(recursive) {}

std::string RealIp::resolve(std::string_view peer, std::string_view forwarded) const {
    boost::system::error_code ec;
    auto peer_address = ip::make_address(std::string(peer), ec);
    if (ec || !anyContains(trusted_, peer_address) || trimWhitespace(forwarded).empty()) {
        return std::string(peer);
    }
    std::optional<ip::address> client;
    // Right to left: the nearest proxy appended the last entry. Empty entries ("a, , b" or a
    // trailing comma) carry nothing and are skipped.
    std::string_view rest = forwarded;
    while (true) {
        auto comma = rest.rfind(',');
        std::string_view entry =
            trimWhitespace(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        if (!entry.empty()) {
            auto address = parseEntry(entry);
            if (!address) break;
            client = address;
            if (!recursive_ || !anyContains(trusted_, *address)) break;
        }
        if (comma == std::string_view::npos) break;
        rest = rest.substr(0, comma);
    }
    return client ? client->to_string() : std::string(peer);
}

}  // namespace aiproxy::common
