// server.real_ip: when the forwarding header is believed, and which of its entries is the client.

#include "aiproxy/common/real_ip.hpp"

#include <gtest/gtest.h>

namespace aiproxy::common {
namespace {

RealIp realIp(std::vector<std::string> trusted, bool recursive = true) {
    std::vector<Cidr> ranges;
    for (const auto& text : trusted)
        ranges.push_back(*Cidr::parse(text));
    return RealIp{"X-Forwarded-For", std::move(ranges), recursive};
}

TEST(RealIpTest, AHeaderFromAnUntrustedPeerIsIgnored) {
    auto real_ip = realIp({"10.0.0.0/8"});
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "203.0.113.7"), "127.0.0.1");
    EXPECT_EQ(real_ip.resolve("192.168.1.1", "203.0.113.7"), "192.168.1.1");
}

TEST(RealIpTest, ATrustedPeerNamesTheClient) {
    auto real_ip = realIp({"127.0.0.1"});
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "203.0.113.7"), "203.0.113.7");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "  203.0.113.7\t"), "203.0.113.7");
}

TEST(RealIpTest, NoHeaderOrAnEmptyOneLeavesThePeer) {
    auto real_ip = realIp({"127.0.0.0/8"});
    EXPECT_EQ(real_ip.resolve("127.0.0.1", ""), "127.0.0.1");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", " , ,"), "127.0.0.1");
}

TEST(RealIpTest, RecursiveWalkSkipsTrustedProxiesFromTheRight) {
    auto real_ip = realIp({"127.0.0.0/8"});
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "198.51.100.1, 203.0.113.7, 127.0.0.5"), "203.0.113.7");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "198.51.100.1,203.0.113.7,127.0.0.5,127.0.0.9"),
              "203.0.113.7");
}

TEST(RealIpTest, WhenEveryEntryIsTrustedTheLeftmostIsTheClient) {
    auto real_ip = realIp({"127.0.0.0/8", "10.0.0.0/8"});
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "10.1.1.1, 127.0.0.5"), "10.1.1.1");
}

TEST(RealIpTest, WithoutRecursionTheRightmostEntryIsTheClient) {
    auto real_ip = realIp({"127.0.0.0/8"}, false);
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "198.51.100.1, 203.0.113.7, 127.0.0.5"), "127.0.0.5");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "198.51.100.1, 203.0.113.7"), "203.0.113.7");
}

TEST(RealIpTest, GarbageEndsTheWalkWithTheLastGoodAddress) {
    auto real_ip = realIp({"127.0.0.0/8"});
    // Nothing good yet: the peer stays the client.
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "203.0.113.7, not-an-ip"), "127.0.0.1");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "unknown"), "127.0.0.1");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "203.0.113.7:4711"), "127.0.0.1");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "999.1.1.1"), "127.0.0.1");
    EXPECT_EQ(real_ip.resolve("127.0.0.1", std::string(5000, 'x')), "127.0.0.1");
    // A trusted proxy was found before the garbage: it is the last address known.
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "1.2.3.4, _hidden, 127.0.0.5"), "127.0.0.5");
    // Garbage left of the client is never reached.
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "garbage, 203.0.113.7, 127.0.0.5"), "203.0.113.7");
    auto flat = realIp({"127.0.0.0/8"}, false);
    EXPECT_EQ(flat.resolve("127.0.0.1", "203.0.113.7, garbage"), "127.0.0.1");
}

TEST(RealIpTest, EmptyEntriesAreSkipped) {
    auto real_ip = realIp({"127.0.0.0/8"});
    EXPECT_EQ(real_ip.resolve("127.0.0.1", "203.0.113.7, , 127.0.0.5,"), "203.0.113.7");
}

TEST(RealIpTest, IPv6PeersAndEntries) {
    auto real_ip = realIp({"::1/128", "2001:db8:ffff::/48"});
    EXPECT_EQ(real_ip.resolve("::1", "2001:DB8::7"), "2001:db8::7");  // canonical form
    EXPECT_EQ(real_ip.resolve("::1", "[2001:db8::7], 2001:db8:ffff::1"), "2001:db8::7");
    EXPECT_EQ(real_ip.resolve("::1", "203.0.113.7, 2001:db8:ffff::1"), "203.0.113.7");
    EXPECT_EQ(real_ip.resolve("::2", "2001:db8::7"), "::2");    // untrusted peer
    EXPECT_EQ(real_ip.resolve("::1", "[203.0.113.7]"), "::1");  // brackets are for IPv6 only
}

TEST(RealIpTest, AnIPv4MappedPeerMatchesIPv4Ranges) {
    auto real_ip = realIp({"127.0.0.0/8"});
    EXPECT_EQ(real_ip.resolve("::ffff:127.0.0.1", "203.0.113.7"), "203.0.113.7");
}

TEST(RealIpTest, APeerThatIsNotAnAddressIsNeverTrusted) {
    auto real_ip = realIp({"0.0.0.0/0", "::/0"});
    EXPECT_EQ(real_ip.resolve("", "203.0.113.7"), "");
    EXPECT_EQ(real_ip.resolve("local", "203.0.113.7"), "local");
}

}  // namespace
}  // namespace aiproxy::common
