#pragma once
// CIDR ranges for address allow lists (admin.allow; ip-restriction later). IPv4-mapped IPv6
// client addresses (::ffff:a.b.c.d) match IPv4 ranges, since dual-stack sockets report them so.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace aiproxy::common {

class Cidr {
public:
    // "10.0.0.0/8", "::1/128", or a plain address (a /32 or /128 range). nullopt when invalid,
    // including a prefix longer than the address or host bits set ("10.0.0.1/8").
    static std::optional<Cidr> parse(std::string_view text);

    bool contains(const boost::asio::ip::address& address) const;

private:
    bool v6_ = false;
    std::array<std::uint8_t, 16> bytes_{};
    unsigned prefix_ = 0;
};

bool anyContains(const std::vector<Cidr>& ranges, const boost::asio::ip::address& address);

}  // namespace aiproxy::common
