#include "aiproxy/ai/stream_usage_filter.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "golden.hpp"

namespace aiproxy::ai {
namespace {

using Mode = StreamUsageFilter::Mode;
using test::kOpenAiChatGoldenUsage;
using test::readGolden;
using test::withLineEnd;

// The golden stream with its usage-only chunk cut out (the event and its blank line).
std::string withoutUsageChunk(const std::string& lf_stream) {
    const std::size_t at = lf_stream.find("\"choices\":[]");
    const std::size_t start = lf_stream.rfind("data: ", at);
    const std::size_t end = lf_stream.find("\n\n", at) + 2;
    return lf_stream.substr(0, start) + lf_stream.substr(end);
}

struct Relayed {
    std::string bytes;
    StreamUsage usage;
};

// Relays the stream through a filter in reads ending at the given offsets.
Relayed relay(Mode mode, std::string_view stream, std::vector<std::size_t> cuts = {}) {
    StreamUsageFilter filter(mode);
    Relayed out;
    std::size_t from = 0;
    cuts.push_back(stream.size());
    for (std::size_t cut : cuts) {
        out.bytes.append(filter.feed(stream.substr(from, cut - from)));
        from = cut;
    }
    out.bytes.append(filter.finish());
    out.usage = filter.usage();
    return out;
}

Relayed relayByteByByte(Mode mode, std::string_view stream) {
    StreamUsageFilter filter(mode);
    Relayed out;
    for (char c : stream)
        out.bytes.append(filter.feed(std::string_view(&c, 1)));
    out.bytes.append(filter.finish());
    out.usage = filter.usage();
    return out;
}

TEST(StreamUsageFilterTest, UsageChunkIsRemovedAtEverySplitPointWithEveryLineEnd) {
    const std::string lf = readGolden("sse/openai_chat_include_usage.sse");
    ASSERT_FALSE(lf.empty());
    for (std::string_view line_end : {"\n", "\r\n", "\r"}) {
        SCOPED_TRACE("line end of " + std::to_string(line_end.size()) + " bytes");
        const std::string stream = withLineEnd(lf, line_end);
        const std::string expected = withLineEnd(withoutUsageChunk(lf), line_end);
        ASSERT_LT(expected.size(), stream.size());
        for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
            const Relayed relayed = relay(Mode::HideUsageChunk, stream, {cut});
            ASSERT_EQ(relayed.bytes, expected) << "split at byte " << cut;
            ASSERT_EQ(relayed.usage, kOpenAiChatGoldenUsage) << "split at byte " << cut;
        }
        const Relayed relayed = relayByteByByte(Mode::HideUsageChunk, stream);
        EXPECT_EQ(relayed.bytes, expected);
        EXPECT_EQ(relayed.usage, kOpenAiChatGoldenUsage);
    }
}

TEST(StreamUsageFilterTest, DoneMarkerAndContentChunksPass) {
    const std::string stream = readGolden("sse/openai_chat_include_usage.sse");
    const Relayed relayed = relay(Mode::HideUsageChunk, stream);
    EXPECT_TRUE(relayed.bytes.ends_with("\n\ndata: [DONE]\n\n"));
    EXPECT_EQ(relayed.bytes.find("\"choices\":[]"), std::string::npos);
    EXPECT_NE(relayed.bytes.find("\"finish_reason\":\"stop\""), std::string::npos);
}

TEST(StreamUsageFilterTest, PassThroughReturnsTheInputAtOnceAndCountsOnTheSide) {
    const std::string stream = readGolden("sse/openai_chat_include_usage.sse");
    StreamUsageFilter filter(Mode::PassThrough);
    for (std::size_t at = 0; at < stream.size(); at += 7) {
        const std::string_view read = std::string_view(stream).substr(at, 7);
        const std::string_view out = filter.feed(read);
        ASSERT_EQ(out.data(), read.data());
        ASSERT_EQ(out.size(), read.size());
    }
    EXPECT_EQ(filter.finish(), "");
    EXPECT_EQ(filter.usage(), kOpenAiChatGoldenUsage);
}

TEST(StreamUsageFilterTest, StreamsWithoutAUsageOnlyChunkPassUnchanged) {
    for (const char* name : {"sse/vllm_usage_in_last_chunk.sse", "sse/anthropic_messages.sse"}) {
        const std::string stream = readGolden(name);
        for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
            ASSERT_EQ(relay(Mode::HideUsageChunk, stream, {cut}).bytes, stream)
                << name << " split at " << cut;
        }
        EXPECT_TRUE(relay(Mode::HideUsageChunk, stream).usage.usage_reported) << name;
    }
}

TEST(StreamUsageFilterTest, CompleteEventsAreForwardedInTheReadThatCompletesThem) {
    StreamUsageFilter filter(Mode::HideUsageChunk);
    EXPECT_EQ(filter.feed(": keep-alive\n\n"), ": keep-alive\n\n") << "comments are not held";
    EXPECT_EQ(filter.feed("data: {\"choices\":[{\"delta\":{}}]}\n"), "");
    EXPECT_EQ(filter.feed("\ndata: {\"cho"), "data: {\"choices\":[{\"delta\":{}}]}\n\n");
    EXPECT_EQ(filter.feed("ices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}"),
              "");
    EXPECT_EQ(filter.feed("\n\n: after\n"), ": after\n");
    EXPECT_EQ(filter.feed("data: [DONE]\n\n"), "data: [DONE]\n\n");
    EXPECT_EQ(filter.finish(), "");
    EXPECT_EQ(filter.usage().usage.completion_tokens, 2u);
}

TEST(StreamUsageFilterTest, ReadsThatCompleteEverythingAreReturnedWithoutCopy) {
    StreamUsageFilter filter(Mode::HideUsageChunk);
    const std::string read = "data: {\"choices\":[{\"delta\":{}}]}\n\ndata: {\"cho";
    const std::string_view out = filter.feed(read);
    EXPECT_EQ(out.data(), read.data());
    EXPECT_EQ(out, "data: {\"choices\":[{\"delta\":{}}]}\n\n");
}

TEST(StreamUsageFilterTest, UnterminatedLastEventIsFlushedUnlessItIsTheUsageChunk) {
    StreamUsageFilter content(Mode::HideUsageChunk);
    EXPECT_EQ(content.feed("data: {\"choices\":[{\"delta\":{}}]}"), "");
    EXPECT_EQ(content.finish(), "data: {\"choices\":[{\"delta\":{}}]}");

    StreamUsageFilter usage(Mode::HideUsageChunk);
    EXPECT_EQ(usage.feed("data: a\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n"),
              "data: a\n\n");
    EXPECT_EQ(usage.finish(), "");
    EXPECT_EQ(usage.usage().usage.prompt_tokens, 3u);
}

TEST(StreamUsageFilterTest, OversizedEventsAreRelayedUnparsed) {
    const std::string big = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1},\"pad\":\"" +
                            std::string(100, 'x') + "\"}\n\n";
    const std::string stream = big + "data: [DONE]\n\n";
    StreamUsageFilter filter(Mode::HideUsageChunk, 64);
    std::string out;
    for (std::size_t at = 0; at < stream.size(); at += 10)
        out.append(filter.feed(std::string_view(stream).substr(at, 10)));
    out.append(filter.finish());
    EXPECT_EQ(out, stream);
    EXPECT_TRUE(filter.overflowed());
    EXPECT_FALSE(filter.usage().usage_reported);
    EXPECT_TRUE(filter.usage().done);
}

TEST(StreamUsageFilterTest, TwoUsageChunksInARowAreBothRemoved) {
    const std::string usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\r\n\r\n";
    const std::string stream = "data: a\r\n\r\n" + usage + usage + "data: [DONE]\r\n\r\n";
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        ASSERT_EQ(relay(Mode::HideUsageChunk, stream, {cut}).bytes,
                  "data: a\r\n\r\ndata: [DONE]\r\n\r\n")
            << "split at " << cut;
    }
}

// Streams assembled from awkward fragments, relayed in random reads: the output never depends
// on how the bytes were split, and only usage-only chunks are ever removed. Fixed seed.
TEST(StreamUsageFilterTest, RandomStreamsAndReadsGiveTheSameOutput) {
    const std::vector<std::string> fragments = {
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}",
        "data: [DONE]",
        ": keep-alive",
        "event: ping",
        "id: 3",
        "data",
        "data:",
        "\xEF\xBB\xBF",
        "retry: 5",
        "\n",
        "\r",
        "\r\n",
        "\n\n",
        "\r\n\r\n",
        "\r\r"};
    std::mt19937 random(20261126);
    for (int round = 0; round < 300; ++round) {
        std::string stream;
        const int parts = 1 + static_cast<int>(random() % 24);
        for (int i = 0; i < parts; ++i)
            stream += fragments[random() % fragments.size()];
        const Relayed whole = relay(Mode::HideUsageChunk, stream);
        std::vector<std::size_t> cuts;
        for (std::size_t at = 0; at < stream.size(); at += 1 + random() % 9)
            cuts.push_back(at);
        const Relayed split = relay(Mode::HideUsageChunk, stream, cuts);
        ASSERT_EQ(split.bytes, whole.bytes) << "stream: " << stream;
        ASSERT_EQ(split.usage, whole.usage) << "stream: " << stream;
        ASSERT_EQ(relayByteByByte(Mode::HideUsageChunk, stream).bytes, whole.bytes);
        if (stream.find("\"choices\":[]") == std::string::npos) {
            ASSERT_EQ(whole.bytes, stream);
        }
        ASSERT_EQ(relay(Mode::PassThrough, stream, cuts).bytes, stream);
    }
}

TEST(RequestStreamUsageTest, SplicesTheOptionIntoABodyWithoutIt) {
    std::string body = R"({"model":"gpt-4o","stream":true,"messages":[]})";
    const StreamUsageRequest request = requestStreamUsage(body);
    EXPECT_TRUE(request.streaming);
    EXPECT_FALSE(request.client_asked);
    EXPECT_TRUE(request.rewritten);
    EXPECT_EQ(body, R"({"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true,)"
                    R"("messages":[]})");
    EXPECT_TRUE(nlohmann::json::accept(body));
}

TEST(RequestStreamUsageTest, SpliceKeepsLeadingWhitespace) {
    std::string body = "\n  { \"stream\" : true }";
    EXPECT_TRUE(requestStreamUsage(body).rewritten);
    EXPECT_EQ(body, "\n  {\"stream_options\":{\"include_usage\":true}, \"stream\" : true }");
    EXPECT_TRUE(nlohmann::json::accept(body));
}

TEST(RequestStreamUsageTest, ClientThatAskedIsLeftAlone) {
    const std::string original =
        R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}})";
    std::string body = original;
    const StreamUsageRequest request = requestStreamUsage(body);
    EXPECT_TRUE(request.streaming);
    EXPECT_TRUE(request.client_asked);
    EXPECT_FALSE(request.rewritten);
    EXPECT_EQ(body, original);
}

TEST(RequestStreamUsageTest, ExistingOptionsAreUpdatedInOrder) {
    std::string body =
        R"({"stream":true,"stream_options":{"include_usage":false,"x":1},"temperature":0.7})";
    const StreamUsageRequest request = requestStreamUsage(body);
    EXPECT_FALSE(request.client_asked);
    EXPECT_TRUE(request.rewritten);
    EXPECT_EQ(body,
              R"({"stream":true,"stream_options":{"include_usage":true,"x":1},"temperature":0.7})");

    std::string null_options = R"({"stream":true,"stream_options":null})";
    EXPECT_TRUE(requestStreamUsage(null_options).rewritten);
    EXPECT_EQ(null_options, R"({"stream":true,"stream_options":{"include_usage":true}})");
}

TEST(RequestStreamUsageTest, NonStreamingOrUnusableBodiesAreUnchanged) {
    for (const char* original :
         {R"({"model":"gpt-4o","messages":[]})", R"({"stream":false})", R"({"stream":"yes"})",
          "not json", "[1]", "", R"({"stream":true,"stream_options":"x"})"}) {
        std::string body = original;
        const StreamUsageRequest request = requestStreamUsage(body);
        EXPECT_FALSE(request.rewritten) << original;
        EXPECT_FALSE(request.client_asked) << original;
        EXPECT_EQ(body, original);
    }
    std::string odd = R"({"stream":true,"stream_options":"x"})";
    EXPECT_TRUE(requestStreamUsage(odd).streaming);
}

}  // namespace
}  // namespace aiproxy::ai
