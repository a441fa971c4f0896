#include "aiproxy/common/ascii.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace aiproxy::common {
namespace {

TEST(AsciiTest, EqualsIgnoresAsciiCaseOnly) {
    EXPECT_TRUE(equalsIgnoreCase("Transfer-Encoding", "transfer-encoding"));
    EXPECT_TRUE(equalsIgnoreCase("", ""));
    EXPECT_FALSE(equalsIgnoreCase("chunked", "chunke"));
    EXPECT_FALSE(equalsIgnoreCase("\xc3\x89", "\xc3\xa9"));  // É and é: bytes, not letters
    EXPECT_TRUE(startsWithIgnoreCase("HTTPS://h", "https://"));
    EXPECT_FALSE(startsWithIgnoreCase("htt", "http://"));
}

TEST(AsciiTest, ReadsNothingPastItsArguments) {
    // Beast 1.81's iequals read one byte past the end when the last characters differed only in
    // case; ASan sees any such read on an exact-size heap copy.
    auto bytes = std::make_unique<char[]>(7);
    std::string("htTp://").copy(bytes.get(), 7);
    EXPECT_TRUE(equalsIgnoreCase(std::string_view(bytes.get(), 7), "http://"));
    EXPECT_FALSE(equalsIgnoreCase(std::string_view(bytes.get(), 7), "http:/X"));
}

}  // namespace
}  // namespace aiproxy::common
