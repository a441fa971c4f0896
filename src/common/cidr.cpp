#include "aiproxy/common/cidr.hpp"

#include <charconv>
#include <string>

namespace aiproxy::common {
namespace {

namespace ip = boost::asio::ip;

std::array<std::uint8_t, 16> bytesOf(const ip::address& address) {
    std::array<std::uint8_t, 16> bytes{};
    if (address.is_v4()) {
        auto v4 = address.to_v4().to_bytes();
        std::copy(v4.begin(), v4.end(), bytes.begin());
    } else {
        bytes = address.to_v6().to_bytes();
    }
    return bytes;
}

bool prefixEqual(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                 unsigned prefix) {
    unsigned full = prefix / 8;
    for (unsigned i = 0; i < full; ++i) {
        if (a[i] != b[i]) return false;
    }
    unsigned rest = prefix % 8;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
    auto slash = text.find('/');
    std::string address_text{text.substr(0, slash)};
    boost::system::error_code ec;
    auto address = ip::make_address(address_text, ec);
    if (ec) return std::nullopt;
    Cidr cidr;
    cidr.v6_ = address.is_v6();
    unsigned bits = cidr.v6_ ? 128 : 32;
    cidr.prefix_ = bits;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        unsigned prefix = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
            prefix > bits) {
            return std::nullopt;
        }
        cidr.prefix_ = prefix;
    }
    cidr.bytes_ = bytesOf(address);
    // Host bits set usually means a typo in the prefix length; refuse rather than guess.
    std::array<std::uint8_t, 16> zeroed = cidr.bytes_;
    for (unsigned bit = cidr.prefix_; bit < bits; ++bit) {
        zeroed[bit / 8] = static_cast<std::uint8_t>(zeroed[bit / 8] & ~(0x80 >> (bit % 8)));
    }
    if (zeroed != cidr.bytes_) return std::nullopt;
    return cidr;
}

bool Cidr::contains(const ip::address& raw) const {
    ip::address address = raw;
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = ip::make_address_v4(ip::v4_mapped, address.to_v6());
    }
    if (address.is_v6() != v6_) return false;
    return prefixEqual(bytesOf(address), bytes_, prefix_);
}

bool anyContains(const std::vector<Cidr>& ranges, const ip::address& address) {
    for (const Cidr& range : ranges) {
        if (range.contains(address)) return true;
    }
    return false;
}

}  // namespace aiproxy::common
