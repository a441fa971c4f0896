// ip-restriction: whitelists and blacklists of IPv4 and IPv6 ranges.

#include "aiproxy/plugins/ip_restriction.hpp"

#include <gtest/gtest.h>

namespace aiproxy::plugins {
namespace {

TEST(IpRestrictionTest, AWhitelistLetsOnlyItsRangesIn) {
    IpRestriction restriction{{.whitelist = {"10.0.0.0/8", "192.168.1.7", "2001:db8::/32"}}};
    EXPECT_TRUE(restriction.allows("10.20.30.40"));
    EXPECT_TRUE(restriction.allows("192.168.1.7"));
    EXPECT_TRUE(restriction.allows("2001:db8:1::5"));
    EXPECT_FALSE(restriction.allows("127.0.0.1"));
    EXPECT_FALSE(restriction.allows("192.168.1.8"));
    EXPECT_FALSE(restriction.allows("2001:db9::1"));
    EXPECT_FALSE(restriction.allows("::1"));
}

TEST(IpRestrictionTest, ABlacklistKeepsOnlyItsRangesOut) {
    IpRestriction restriction{{.blacklist = {"127.0.0.0/8", "::1"}}};
    EXPECT_FALSE(restriction.allows("127.0.0.1"));
    EXPECT_FALSE(restriction.allows("::1"));
    EXPECT_TRUE(restriction.allows("10.0.0.1"));
    EXPECT_TRUE(restriction.allows("::2"));
}

TEST(IpRestrictionTest, IPv4MappedClientsMatchIPv4Ranges) {
    IpRestriction white{{.whitelist = {"203.0.113.0/24"}}};
    EXPECT_TRUE(white.allows("::ffff:203.0.113.9"));
    IpRestriction black{{.blacklist = {"203.0.113.0/24"}}};
    EXPECT_FALSE(black.allows("::ffff:203.0.113.9"));
}

TEST(IpRestrictionTest, AClientThatIsNotAnAddressIsInNoList) {
    IpRestriction white{{.whitelist = {"0.0.0.0/0", "::/0"}}};
    EXPECT_FALSE(white.allows(""));
    EXPECT_FALSE(white.allows("garbage"));
    IpRestriction black{{.blacklist = {"0.0.0.0/0"}}};
    EXPECT_TRUE(black.allows("garbage"));
}

TEST(IpRestrictionTest, KeepsTheAnswerItGives) {
    IpRestriction defaults{{.whitelist = {"10.0.0.0/8"}}};
    EXPECT_EQ(defaults.status(), 403);
    EXPECT_EQ(defaults.message(), "Your IP address is not allowed");
    IpRestriction custom{{.blacklist = {"10.0.0.0/8"}, .message = "go away", .response_code = 451}};
    EXPECT_EQ(custom.status(), 451);
    EXPECT_EQ(custom.message(), "go away");
}

}  // namespace
}  // namespace aiproxy::plugins
