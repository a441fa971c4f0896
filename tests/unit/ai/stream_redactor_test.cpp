#include "aiproxy/ai/stream_redactor.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace aiproxy::ai {
namespace {

std::vector<RedactionRule> rules(const std::vector<std::pair<std::string, std::string>>& list) {
    std::vector<RedactionRule> out;
    for (const auto& [source, replace] : list) {
        std::string error;
        auto pattern = common::Pattern::compile(source, error);
        EXPECT_TRUE(pattern) << source << ": " << error;
        if (pattern) out.push_back({.pattern = std::move(*pattern), .replace = replace});
    }
    return out;
}

// The text the client gets when `pieces` arrive one by one and then the stream ends.
std::string stream(StreamRedactor& redactor, const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& piece : pieces)
        out += redactor.feed(piece);
    out += redactor.flush();
    return out;
}

std::string stream(const std::vector<RedactionRule>& list, const std::vector<std::string>& pieces,
                   std::size_t max_chars = 64) {
    StreamRedactor redactor{list, max_chars};
    return stream(redactor, pieces);
}

bool startsMidCodePoint(std::string_view text) {
    return !text.empty() && (static_cast<unsigned char>(text.front()) & 0xC0) == 0x80;
}

TEST(StreamRedactorTest, ReplacesAMatchSplitAtEveryPossibleBoundary) {
    auto list = rules({{R"(sk-\d{5})", "[KEY]"}});
    const std::string text = "my key is sk-12345, keep it";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        EXPECT_EQ(stream(list, {text.substr(0, cut), text.substr(cut)}), "my key is [KEY], keep it")
            << "cut at " << cut;
    }
}

TEST(StreamRedactorTest, ReplacesAMatchSplitIntoThreePiecesAnywhere) {
    auto list = rules({{"password: *\\S+", "password: ***"}});
    const std::string text = "the password: hunter2 is set";
    for (std::size_t a = 0; a <= text.size(); ++a) {
        for (std::size_t b = a; b <= text.size(); ++b) {
            EXPECT_EQ(stream(list, {text.substr(0, a), text.substr(a, b - a), text.substr(b)}),
                      "the password: *** is set")
                << "cuts at " << a << ", " << b;
        }
    }
}

TEST(StreamRedactorTest, ReplacesEveryMatchOfEveryPattern) {
    auto list = rules({{R"(\d{3}-\d{4})", "[PHONE]"}, {R"([\w.]+@\w+\.com)", "[EMAIL]"}});
    const std::string text = "call 555-1234 or 555-9876, mail a.b@example.com or c@d.com.";
    const std::string expected = "call [PHONE] or [PHONE], mail [EMAIL] or [EMAIL].";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        StreamRedactor redactor{list, 64};
        EXPECT_EQ(stream(redactor, {text.substr(0, cut), text.substr(cut)}), expected)
            << "cut at " << cut;
        EXPECT_EQ(redactor.redactions(), 4U);
    }
}

TEST(StreamRedactorTest, LeftmostMatchWinsAndOnATieTheFirstPatternListed) {
    // "bcd" starts later than "abc": the leftmost is replaced and the scan goes on after it.
    auto overlapping = rules({{"bcd", "[2]"}, {"abc", "[1]"}});
    // Both start at the same place: the pattern listed first wins, whatever its length.
    auto tie = rules({{"ab", "[short]"}, {"abc", "[long]"}});
    for (std::size_t cut = 0; cut <= 6; ++cut) {
        std::string text = "xabcdx";
        EXPECT_EQ(stream(overlapping, {text.substr(0, cut), text.substr(cut)}), "x[1]dx") << cut;
        EXPECT_EQ(stream(tie, {text.substr(0, cut), text.substr(cut)}), "x[short]cdx") << cut;
    }
}

TEST(StreamRedactorTest, ACandidateThatFailsLeavesItsTextAndTheNextMatchIsFound) {
    // "aa" looks like the start of "aab" until the third "a": the match starts one later.
    auto list = rules({{"aab", "[X]"}});
    const std::string text = "aaab aab";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        EXPECT_EQ(stream(list, {text.substr(0, cut), text.substr(cut)}), "a[X] [X]") << cut;
    }
}

TEST(StreamRedactorTest, ReplacementTextIsNotScannedAgain) {
    auto list = rules({{"cat", "concatenate"}});
    EXPECT_EQ(stream(list, {"a cat"}), "a concatenate");
}

TEST(StreamRedactorTest, TextWithoutAPossibleMatchGoesOutAtOnce) {
    auto list = rules({{"secret", "[X]"}});
    StreamRedactor redactor{list, 64};
    EXPECT_EQ(redactor.feed("hello world"), "hello world");
    EXPECT_FALSE(redactor.holding());
    // "sec" may begin the match: held, the rest is out.
    EXPECT_EQ(redactor.feed(" and sec"), " and ");
    EXPECT_TRUE(redactor.holding());
    EXPECT_EQ(redactor.feed("ond"), "second");
    EXPECT_FALSE(redactor.holding());
}

TEST(StreamRedactorTest, FlushReleasesHeldTextAndDecidesOpenEndedMatches) {
    auto list = rules({{R"(\d+)", "[N]"}});
    StreamRedactor redactor{list, 64};
    // More digits may follow, so "555" is held until the text ends.
    EXPECT_EQ(redactor.feed("call 555"), "call ");
    EXPECT_EQ(redactor.flush(), "[N]");
    EXPECT_FALSE(redactor.holding());
    // Feeding goes on after a flush (a pause) as before.
    EXPECT_EQ(redactor.feed(" or 7"), " or ");
    EXPECT_EQ(redactor.flush(" now"), "[N] now");
    EXPECT_EQ(redactor.redactions(), 2U);
}

TEST(StreamRedactorTest, NeverHoldsMoreThanTheBoundAndReleasesTheOldestText) {
    auto list = rules({{"x+y", "[XY]"}});
    const std::size_t bound = 8;
    StreamRedactor redactor{list, bound};
    std::string out;
    const std::string text = "ab" + std::string(30, 'x') + "cd";
    for (char c : text) {
        out += redactor.feed(std::string(1, c));
        EXPECT_LE(redactor.heldBytes(), bound);
    }
    out += redactor.flush();
    // The run of x never became a match: every character went out unchanged, in order.
    EXPECT_EQ(out, text);
    EXPECT_EQ(redactor.redactions(), 0U);
}

TEST(StreamRedactorTest, AMatchWithinTheBoundIsStillReplacedAfterAReleaseOfOlderText) {
    auto list = rules({{"x+y", "[XY]"}});
    StreamRedactor redactor{list, 4};
    std::string out;
    for (char c : std::string("xxxxxxxxxy!"))
        out += redactor.feed(std::string(1, c));
    out += redactor.flush();
    // Only the last four characters were still held when "y" arrived.
    EXPECT_EQ(out, "xxxxx[XY]!");
}

TEST(StreamRedactorTest, TheBoundCountsCodePointsAndNeverSplitsOne) {
    auto list = rules({{"é+z", "[Z]"}});
    StreamRedactor redactor{list, 3};
    std::string out;
    for (int i = 0; i < 10; ++i) {
        std::string_view piece = redactor.feed("é");
        EXPECT_FALSE(startsMidCodePoint(piece));
        EXPECT_LE(redactor.heldBytes(), 3U * 2);  // "é" is two bytes
        out += piece;
    }
    out += redactor.feed("z");
    EXPECT_EQ(out, "ééééééé[Z]");  // the last three were held when the z came
}

TEST(StreamRedactorTest, ABoundOfZeroHoldsNothing) {
    auto list = rules({{"secret", "[X]"}});
    StreamRedactor redactor{list, 0};
    EXPECT_EQ(redactor.feed("a sec"), "a sec");
    EXPECT_FALSE(redactor.holding());
    EXPECT_EQ(redactor.feed("ret and secret"), "ret and [X]");
}

TEST(StreamRedactorTest, WordBoundariesSeeTheTextAlreadyEmitted) {
    auto list = rules({{R"(\bsecret\b)", "[X]"}});
    // "topsecret" is one word, wherever the stream is cut.
    EXPECT_EQ(stream(list, {"top", "secret"}), "topsecret");
    EXPECT_EQ(stream(list, {"a ", "secret", " b"}), "a [X] b");
    EXPECT_EQ(stream(list, {"a", " secret", "s"}), "a secrets");
}

TEST(StreamRedactorTest, LookbehindSeesTheTextAlreadyEmitted) {
    auto list = rules({{"(?<=card )\\d{4}", "****"}});
    EXPECT_EQ(stream(list, {"my card ", "1234 and code 5678"}), "my card **** and code 5678");
}

TEST(StreamRedactorTest, PatternsThatMatchEmptyTextReplaceNothingAndStillFindRealMatches) {
    auto list = rules({{"x*", "[X]"}});
    EXPECT_EQ(stream(list, {"abc"}), "abc");
    EXPECT_EQ(stream(list, {"axx", "xb"}), "a[X]b");
}

TEST(StreamRedactorTest, WithoutPatternsTextPassesAsItIs) {
    std::vector<RedactionRule> none;
    StreamRedactor redactor{none, 64};
    EXPECT_EQ(redactor.feed("anything"), "anything");
    EXPECT_FALSE(redactor.holding());
    EXPECT_EQ(redactor.flush(), "");
}

TEST(StreamRedactorTest, RedactTextIsTheStreamFedWhole) {
    auto list = rules({{R"(\d+)", "[N]"}});
    std::size_t count = 0;
    EXPECT_EQ(redactText(list, "1 and 22 and 333", count), "[N] and [N] and [N]");
    EXPECT_EQ(count, 3U);
}

}  // namespace
}  // namespace aiproxy::ai
