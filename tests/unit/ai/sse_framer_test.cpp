#include "aiproxy/ai/sse_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "golden.hpp"

namespace aiproxy::ai {
namespace {

using namespace std::string_literals;
using test::readGolden;
using test::withLineEnd;

// Feeds the stream in chunks ending at the given offsets (and at its end).
std::vector<SseFramedEvent> frame(std::string_view stream, std::vector<std::size_t> cuts = {}) {
    SseFramer framer;
    std::vector<SseFramedEvent> events;
    std::size_t from = 0;
    cuts.push_back(stream.size());
    for (std::size_t cut : cuts) {
        framer.feed(stream.substr(from, cut - from), events);
        from = cut;
    }
    return events;
}

std::vector<SseFramedEvent> frameByteByByte(std::string_view stream) {
    SseFramer framer;
    std::vector<SseFramedEvent> events;
    for (char c : stream)
        framer.feed(std::string_view(&c, 1), events);
    return events;
}

std::vector<SseEvent> eventsOf(const std::vector<SseFramedEvent>& framed) {
    std::vector<SseEvent> events;
    for (const SseFramedEvent& f : framed)
        events.push_back(f.event);
    return events;
}

std::vector<SseEvent> frameEvents(std::string_view stream) {
    return eventsOf(frame(stream));
}

// Every split into two reads, and one byte per read, must give what one read gives.
void expectSplitInvariant(std::string_view stream) {
    const std::vector<SseFramedEvent> whole = frame(stream);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        ASSERT_EQ(frame(stream, {cut}), whole) << "split at byte " << cut;
    }
    ASSERT_EQ(frameByteByByte(stream), whole);
}

struct Case {
    std::string name;
    std::string stream;
    std::vector<SseEvent> events;
};

std::vector<Case> smallCorpus() {
    return {
        {"two events", "data: a\n\ndata: b\n\n", {{"", "a", ""}, {"", "b", ""}}},
        {"multi-line data", "data: line1\ndata: line2\n\n", {{"", "line1\nline2", ""}}},
        {"one space removed, no colon means empty value",
         "data:x\ndata:  y\ndata\n\n",
         {{"", "x\n y\n", ""}}},
        {"comments ignored", ": hi\n:\ndata: a\n: mid\ndata: b\n\n", {{"", "a\nb", ""}}},
        {"event type and persistent id",
         "event: add\nid: 7\ndata: a\n\ndata: b\n\n",
         {{"add", "a", "7"}, {"", "b", "7"}}},
        {"id with NUL ignored", "id: 1\0x\ndata: a\n\n"s, {{"", "a", ""}}},
        {"retry and unknown fields ignored", "retry: 10\nfoo: bar\ndata: a\n\n", {{"", "a", ""}}},
        {"event without data not dispatched and reset",
         "event: ping\n\ndata: a\n\n",
         {{"", "a", ""}}},
        {"blank lines between events", "\n\n\ndata: a\n\n\n", {{"", "a", ""}}},
        {"empty data line dispatches", "data:\n\n", {{"", "", ""}}},
        {"BOM at start skipped",
         "\xEF\xBB\xBF"
         "data: a\n\n",
         {{"", "a", ""}}},
        {"BOM later is data",
         "data: \xEF\xBB\xBF"
         "a\n\n",
         {{"",
           "\xEF\xBB\xBF"
           "a",
           ""}}},
        {"only one BOM skipped",
         "\xEF\xBB\xBF\xEF\xBB\xBF"
         "data: a\n\ndata: b\n\n",
         {{"", "b", ""}}},
        {"BOM prefix that is not a BOM",
         "\xEF\xBB"
         "data: a\n\ndata: b\n\n",
         {{"", "b", ""}}},
        {"mixed line ends",
         "data: a\r\n\r\ndata: b\r\rdata: c\n\n",
         {{"", "a", ""}, {"", "b", ""}, {"", "c", ""}}},
        {"CR then LF is one line end", "data: a\r\ndata: b\r\n\r\n", {{"", "a\nb", ""}}},
        {"no trailing blank line", "data: a\n\ndata: tail\n", {{"", "a", ""}}},
    };
}

TEST(SseFramerTest, SmallCorpusGivesTheSpecifiedEvents) {
    for (const Case& c : smallCorpus()) {
        EXPECT_EQ(frameEvents(c.stream), c.events) << c.name;
    }
}

TEST(SseFramerTest, SmallCorpusIsSplitInvariantAtEveryPairOfBoundaries) {
    for (const Case& c : smallCorpus()) {
        SCOPED_TRACE(c.name);
        const std::vector<SseFramedEvent> whole = frame(c.stream);
        for (std::size_t first = 0; first <= c.stream.size(); ++first) {
            for (std::size_t second = first; second <= c.stream.size(); ++second) {
                ASSERT_EQ(frame(c.stream, {first, second}), whole) << first << "," << second;
            }
        }
        ASSERT_EQ(frameByteByByte(c.stream), whole);
    }
}

TEST(SseFramerTest, GoldenStreamsAreSplitInvariantWithEveryLineEnd) {
    for (const char* name : {"sse/openai_chat_include_usage.sse", "sse/anthropic_messages.sse",
                             "sse/vllm_usage_in_last_chunk.sse"}) {
        const std::string lf = readGolden(name);
        ASSERT_FALSE(lf.empty()) << name;
        const std::vector<SseEvent> expected = frameEvents(lf);
        for (std::string_view line_end : {"\n", "\r\n", "\r"}) {
            SCOPED_TRACE(std::string(name) + " with line end " + std::to_string(line_end.size()));
            const std::string stream = withLineEnd(lf, line_end);
            EXPECT_EQ(frameEvents(stream), expected);
            expectSplitInvariant(stream);
        }
    }
}

TEST(SseFramerTest, OpenAiGoldenStreamEvents) {
    const std::vector<SseEvent> events =
        frameEvents(readGolden("sse/openai_chat_include_usage.sse"));
    ASSERT_EQ(events.size(), 6u);
    EXPECT_EQ(events[0].event, "");
    EXPECT_TRUE(events[0].data.starts_with(R"({"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")"));
    EXPECT_TRUE(events[0].data.ends_with(R"("usage":null})"));
    EXPECT_EQ(events[5].data, "[DONE]");
}

TEST(SseFramerTest, AnthropicGoldenStreamEvents) {
    const std::vector<SseEvent> events = frameEvents(readGolden("sse/anthropic_messages.sse"));
    std::vector<std::string> types;
    for (const SseEvent& event : events)
        types.push_back(event.event);
    EXPECT_EQ(types,
              (std::vector<std::string>{"message_start", "content_block_start", "ping",
                                        "content_block_delta", "content_block_delta",
                                        "content_block_stop", "message_delta", "message_stop"}));
    EXPECT_EQ(events[2].data, R"({"type": "ping"})");
}

TEST(SseFramerTest, SpansCoverFieldLinesThroughTheDispatchingBlankLine) {
    const std::string first = "data: a\n\n";
    const std::string comment = ": c\n\n";
    const std::string second = "event: x\ndata: b\r\n\r\n";
    const std::vector<SseFramedEvent> events = frame(first + comment + second);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].span, (SseSpan{0, first.size()}));
    const std::uint64_t begin = first.size() + comment.size();
    // The event is dispatched at the blank line's CR, before the LF can be known to follow.
    EXPECT_EQ(events[1].span, (SseSpan{begin, begin + second.size() - 1}));
    EXPECT_EQ(events[1].event, (SseEvent{"x", "b", ""}));
}

TEST(SseFramerTest, SpanStartsAfterALeadingBom) {
    const std::vector<SseFramedEvent> events = frame(
        "\xEF\xBB\xBF"
        "data: a\n\n");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].span, (SseSpan{3, 12}));
}

TEST(SseFramerTest, HoldFromMarksOnlyTheIncompleteEvent) {
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed("data: a\n\n: keep-alive", events);
    EXPECT_EQ(framer.holdFrom(), framer.offset()) << "a comment is never held";
    framer.feed("\n\nda", events);
    EXPECT_EQ(framer.holdFrom(), 23u) << "a partial field line is held from its start";
    framer.feed("ta: b\n", events);
    EXPECT_EQ(framer.holdFrom(), 23u);
    framer.feed(": inner comment\n", events);
    EXPECT_EQ(framer.holdFrom(), 23u);
    framer.feed("\n", events);
    EXPECT_EQ(framer.holdFrom(), framer.offset());
    EXPECT_EQ(events.size(), 2u);
}

TEST(SseFramerTest, HoldFromIsZeroWhileTheBomIsUndecided) {
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed("\xEF\xBB", events);
    EXPECT_EQ(framer.holdFrom(), 0u);
    EXPECT_EQ(framer.offset(), 2u);
    framer.feed("\xBF", events);
    EXPECT_EQ(framer.holdFrom(), 3u);
}

TEST(SseFramerTest, FinishReturnsTheEventThatLackedItsBlankLine) {
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed("data: a\n\nevent: last\ndata: b\ndata: c", events);
    EXPECT_EQ(events.size(), 1u);
    EXPECT_EQ(framer.finish(), (SseEvent{"last", "b\nc", ""}));
    EXPECT_EQ(framer.finish(), std::nullopt);
}

TEST(SseFramerTest, FinishWithoutPendingDataGivesNothing) {
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed("data: a\n\nevent: x\n: comment", events);
    EXPECT_EQ(framer.finish(), std::nullopt);
}

TEST(SseFramerTest, OversizedEventIsDroppedAndParsingResumes) {
    SseFramer framer(16);
    std::vector<SseFramedEvent> events;
    const std::string stream = "data: 0123456789abcdefghij\n\ndata: ok\n\n";
    framer.feed(stream.substr(0, 20), events);
    EXPECT_TRUE(framer.overflowed());
    EXPECT_EQ(framer.holdFrom(), framer.offset()) << "nothing of a dropped event is held";
    framer.feed(stream.substr(20), events);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].event.data, "ok");
    EXPECT_EQ(framer.finish(), std::nullopt);
}

TEST(SseFramerTest, LimitCountsTheWholeEventNotOneLine) {
    SseFramer framer(16);
    std::vector<SseEvent> events;
    framer.feed("data: 0123456\ndata: 0123456\ndata: 0123\n\ndata: ok\n\n", events);
    EXPECT_TRUE(framer.overflowed());
    EXPECT_EQ(events, (std::vector<SseEvent>{{"", "ok", ""}}));
}

TEST(SseFramerTest, LongCommentsAreNotBufferedSoNeverOverflow) {
    SseFramer framer(16);
    std::vector<SseEvent> events;
    framer.feed(": " + std::string(10'000, 'x') + "\ndata: ok\n\n", events);
    EXPECT_FALSE(framer.overflowed());
    EXPECT_EQ(events, (std::vector<SseEvent>{{"", "ok", ""}}));
}

}  // namespace
}  // namespace aiproxy::ai
