#include "aiproxy/common/text.hpp"

#include <string_view>

#include <gtest/gtest.h>

namespace aiproxy::common {
namespace {

using namespace std::string_view_literals;

TEST(TextTest, TrimsSpacesAndTabsAtBothEnds) {
    EXPECT_EQ(trimWhitespace(" \t gzip \t "), "gzip");
    EXPECT_EQ(trimWhitespace("gzip"), "gzip");
    EXPECT_EQ(trimWhitespace("\tgzip"), "gzip");
    EXPECT_EQ(trimWhitespace("gzip "), "gzip");
}

TEST(TextTest, KeepsWhitespaceInside) {
    EXPECT_EQ(trimWhitespace("  a \t b  "), "a \t b");
}

TEST(TextTest, AllWhitespaceOrEmptyBecomesEmpty) {
    EXPECT_EQ(trimWhitespace(""), "");
    EXPECT_EQ(trimWhitespace(" \t \t"), "");
}

TEST(TextTest, OnlyOptionalWhitespaceIsTrimmed) {
    // RFC 9110 section 5.6.3: OWS is space and horizontal tab. CR, LF, VT, FF and NUL are
    // content here; a caller that sees them has a malformed value, not padding.
    EXPECT_EQ(trimWhitespace("\r\nvalue\r\n"), "\r\nvalue\r\n");
    EXPECT_EQ(trimWhitespace("\v\fvalue"), "\v\fvalue");
    EXPECT_EQ(trimWhitespace(" \0x "sv), "\0x"sv);
}

TEST(TextTest, ReturnsAViewIntoTheArgument) {
    std::string_view text = "  token  ";
    auto trimmed = trimWhitespace(text);
    EXPECT_EQ(trimmed.data(), text.data() + 2);
    EXPECT_EQ(trimmed.size(), 5u);
}

static_assert(trimWhitespace(" x ") == "x", "usable in constant expressions");

}  // namespace
}  // namespace aiproxy::common
