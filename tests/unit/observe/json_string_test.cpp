// appendJsonString: access-log lines stay valid JSON whatever bytes a request or body carries.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "aiproxy/observe/access_log.hpp"

namespace aiproxy::observe {
namespace {

std::string jsonQuoted(std::string_view value) {
    std::string out;
    appendJsonString(out, value);
    return out;
}

TEST(JsonStringTest, EscapesWhatJsonRequires) {
    EXPECT_EQ(jsonQuoted("a\"b\\c\nd\re\tf"), R"("a\"b\\c\nd\re\tf")");
    EXPECT_EQ(jsonQuoted(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
    EXPECT_EQ(jsonQuoted(std::string("nul\0byte", 8)), R"("nul\u0000byte")");
}

TEST(JsonStringTest, KeepsWellFormedUtf8) {
    const std::string text =
        "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \xED\x9F\xBF \xF4\x8F\xBF\xBF";
    EXPECT_EQ(jsonQuoted(text), "\"" + text + "\"");
}

TEST(JsonStringTest, ReplacesEveryIllFormedByteWithTheReplacementCharacter) {
    struct Case {
        std::string input;
        std::string expected;
    };
    const Case cases[] = {
        {"\xFF", R"("\ufffd")"},
        {"\x80", R"("\ufffd")"},                                // lone continuation byte
        {"\xC0\xAF", R"("\ufffd\ufffd")"},                      // overlong '/'
        {"\xE0\x80\xAF", R"("\ufffd\ufffd\ufffd")"},            // overlong, three bytes
        {"\xED\xA0\x80", R"("\ufffd\ufffd\ufffd")"},            // UTF-16 surrogate
        {"\xF4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // past U+10FFFF
        {"ab\xC3", R"("ab\ufffd")"},                            // cut in the middle of a character
        {"\xE2\x82x", R"("\ufffd\ufffdx")"},                    // truncated, then ASCII
    };
    for (const auto& c : cases) {
        EXPECT_EQ(jsonQuoted(c.input), c.expected) << c.expected;
    }
}

TEST(JsonStringTest, EveryByteStringGivesAStrictlyValidJsonString) {
    // All two-byte strings: a strict parser accepts each output and finds no invalid UTF-8.
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            std::string input{static_cast<char>(first), static_cast<char>(second)};
            std::string out = jsonQuoted(input);
            auto parsed = nlohmann::json::parse(out, nullptr, false);
            ASSERT_FALSE(parsed.is_discarded()) << first << " " << second << ": " << out;
            ASSERT_TRUE(parsed.is_string());
        }
    }
}

}  // namespace
}  // namespace aiproxy::observe
