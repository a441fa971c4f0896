#include "aiproxy/ai/usage.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "aiproxy/ai/sse_framer.hpp"
#include "golden.hpp"

namespace aiproxy::ai {
namespace {

using test::kOpenAiChatGoldenUsage;
using test::readGolden;

// Frames a whole stream and feeds every event to one accumulator.
StreamUsage accumulate(std::string_view stream, std::vector<StreamEventKind>* kinds = nullptr) {
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed(stream, events);
    StreamUsageAccumulator accumulator;
    for (const SseEvent& event : events) {
        const StreamEventKind kind = accumulator.add(event);
        if (kinds != nullptr) kinds->push_back(kind);
    }
    return accumulator.result();
}

TEST(UsageTest, OpenAiChatBodyWithCachedAndReasoningTokens) {
    const Usage usage = usageFromOpenAiBody(readGolden("usage/openai_chat_response.json"));
    EXPECT_EQ(usage, (Usage{.model = "o3-mini-2025-01-31",
                            .prompt_tokens = 2006,
                            .completion_tokens = 300,
                            .total_tokens = 2306,
                            .cached_prompt_tokens = 1920,
                            .reasoning_tokens = 192}));
}

TEST(UsageTest, OpenAiEmbeddingsBodyHasNoCompletionTokens) {
    const Usage usage = usageFromOpenAiBody(
        R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],)"
        R"("model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}})");
    EXPECT_EQ(usage, (Usage{.model = "text-embedding-3-small",
                            .prompt_tokens = 8,
                            .completion_tokens = 0,
                            .total_tokens = 8}));
}

TEST(UsageTest, DeepSeekCacheHitTokensCountAsCached) {
    const Usage usage = usageFromOpenAiBody(
        R"({"model":"deepseek-chat","usage":{"prompt_tokens":100,"completion_tokens":20,)"
        R"("total_tokens":120,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}})");
    EXPECT_EQ(usage.cached_prompt_tokens, 64u);
    EXPECT_EQ(usage.prompt_tokens, 100u);
}

TEST(UsageTest, ResponsesApiBodyUsesInputAndOutputNames) {
    const Usage usage = usageFromOpenAiBody(
        R"({"id":"resp_1","object":"response","model":"gpt-4.1-2025-04-14","usage":)"
        R"({"input_tokens":328,"input_tokens_details":{"cached_tokens":128},"output_tokens":52,)"
        R"("output_tokens_details":{"reasoning_tokens":10},"total_tokens":380}})");
    EXPECT_EQ(usage, (Usage{.model = "gpt-4.1-2025-04-14",
                            .prompt_tokens = 328,
                            .completion_tokens = 52,
                            .total_tokens = 380,
                            .cached_prompt_tokens = 128,
                            .reasoning_tokens = 10}));
}

TEST(UsageTest, TotalIsComputedWhenNotReported) {
    const Usage usage =
        usageFromOpenAiBody(R"({"usage":{"prompt_tokens":5,"completion_tokens":7}})");
    EXPECT_EQ(usage.total_tokens, 12u);
}

TEST(UsageTest, AnthropicBodyAddsCacheReadsAndWritesToThePrompt) {
    const Usage usage =
        usageFromAnthropicBody(readGolden("usage/anthropic_messages_response.json"));
    EXPECT_EQ(usage, (Usage{.model = "claude-3-7-sonnet-20250219",
                            .prompt_tokens = 12 + 248 + 1800,
                            .completion_tokens = 6,
                            .total_tokens = 12 + 248 + 1800 + 6,
                            .cached_prompt_tokens = 1800,
                            .cache_creation_tokens = 248}));
}

TEST(UsageTest, AnthropicBodyWithoutCacheFields) {
    const Usage usage =
        usageFromAnthropicBody(R"({"type":"message","model":"claude-3-5-haiku-20241022","usage":)"
                               R"({"input_tokens":10,"output_tokens":3}})");
    EXPECT_EQ(usage.prompt_tokens, 10u);
    EXPECT_EQ(usage.completion_tokens, 3u);
    EXPECT_EQ(usage.total_tokens, 13u);
    EXPECT_EQ(usage.cached_prompt_tokens, 0u);
}

TEST(UsageTest, GarbageBodiesLeaveCountsUnknown) {
    for (const char* body :
         {"", "not json", "[1,2]", R"({"usage":null})", R"({"usage":[1]})",
          R"({"usage":{"prompt_tokens":"12"}})", R"({"usage":{"prompt_tokens":-3}})",
          R"({"usage":{"prompt_tokens":1.5}})", R"({"model":7,"usage":{}})",
          R"({"usage":{"prompt_tokens":4)"}) {
        SCOPED_TRACE(body);
        const Usage openai = usageFromOpenAiBody(body);
        EXPECT_EQ(openai.prompt_tokens, std::nullopt);
        EXPECT_EQ(openai.completion_tokens, std::nullopt);
        EXPECT_EQ(openai.model, "");
        const Usage anthropic = usageFromAnthropicBody(body);
        EXPECT_EQ(anthropic.prompt_tokens, std::nullopt);
        EXPECT_EQ(anthropic.completion_tokens, std::nullopt);
    }
}

TEST(UsageTest, OnlyTheTopLevelModelAndUsageCount) {
    // Tool calls and content may carry objects named like ours; only the top level is read.
    const Usage usage = usageFromOpenAiBody(
        R"({"id":"x","choices":[{"message":{"content":"hi","model":"nested",)"
        R"("usage":{"prompt_tokens":999}},"usage":{"completion_tokens":999}}],)"
        R"("model":"gpt-4o-mini","usage":{"prompt_tokens":7,"completion_tokens":3,)"
        R"("prompt_tokens_details":{"cached_tokens":2}},"system_fingerprint":"fp"})");
    EXPECT_EQ(usage.model, "gpt-4o-mini");
    EXPECT_EQ(usage.prompt_tokens, 7u);
    EXPECT_EQ(usage.completion_tokens, 3u);
    EXPECT_EQ(usage.cached_prompt_tokens, 2u);
    // The same with usage ahead of the choices.
    const Usage first = usageFromOpenAiBody(
        R"({"usage":{"prompt_tokens":5,"completion_tokens":1},"choices":[{"usage":{}}]})");
    EXPECT_EQ(first.prompt_tokens, 5u);
    EXPECT_EQ(first.completion_tokens, 1u);
}

TEST(UsageTest, TheLastDuplicateWinsAndTrailingBytesSpoilTheBody) {
    // As a DOM parse reads them: a repeated key keeps its last value, whatever its type.
    EXPECT_EQ(usageFromOpenAiBody(R"({"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}})")
                  .prompt_tokens,
              2u);
    EXPECT_EQ(usageFromOpenAiBody(R"({"usage":{"prompt_tokens":1},"usage":5})").prompt_tokens,
              std::nullopt);
    EXPECT_EQ(usageFromOpenAiBody(R"({"model":"a","model":{"name":"b"}})").model, "");
    EXPECT_EQ(usageFromOpenAiBody(R"({"model":{"name":"b"},"model":"a"})").model, "a");
    EXPECT_EQ(usageFromOpenAiBody(R"({"usage":{"prompt_tokens":1}} trailing)").prompt_tokens,
              std::nullopt);
    const Usage nested = usageFromOpenAiBody(
        R"({"usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":1,"x":[{}]}}})");
    EXPECT_EQ(nested.prompt_tokens, 3u);
    EXPECT_EQ(nested.cached_prompt_tokens, 1u);
}

TEST(UsageTest, ADeeplyNestedUsageIsIgnoredAndTheRestStillCounts) {
    std::string deep = std::string(5000, '[') + std::string(5000, ']');
    const Usage usage =
        usageFromOpenAiBody(R"({"model":"m","x":)" + deep + R"(,"usage":)" + deep + "}");
    EXPECT_EQ(usage.model, "m");
    EXPECT_EQ(usage.prompt_tokens, std::nullopt);
}

TEST(UsageTest, ErrorBodyHasNoUsage) {
    const Usage usage = usageFromAnthropicBody(
        R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
    EXPECT_EQ(usage, Usage{});
}

TEST(StreamUsageTest, OpenAiUsageChunkIsRecognisedAndCounted) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(readGolden("sse/openai_chat_include_usage.sse"), &kinds);
    EXPECT_EQ(kinds,
              (std::vector<StreamEventKind>{StreamEventKind::Other, StreamEventKind::Other,
                                            StreamEventKind::Other, StreamEventKind::Other,
                                            StreamEventKind::UsageOnly, StreamEventKind::Done}));
    EXPECT_EQ(result, kOpenAiChatGoldenUsage);
}

TEST(StreamUsageTest, VllmUsageInTheLastContentChunk) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(readGolden("sse/vllm_usage_in_last_chunk.sse"), &kinds);
    EXPECT_EQ(kinds, (std::vector<StreamEventKind>{StreamEventKind::Other, StreamEventKind::Other,
                                                   StreamEventKind::Done}));
    EXPECT_EQ(result.usage, (Usage{.model = "meta-llama/Llama-3.1-8B-Instruct",
                                   .prompt_tokens = 17,
                                   .completion_tokens = 2,
                                   .total_tokens = 19}));
    EXPECT_TRUE(result.usage_reported);
}

TEST(StreamUsageTest, CumulativeUsageInEveryChunkLastOneWins) {
    const StreamUsage result = accumulate(
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"}}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n"
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"b\"}}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n");
    EXPECT_EQ(result.usage.completion_tokens, 2u);
    EXPECT_EQ(result.usage.total_tokens, 7u);
    EXPECT_FALSE(result.done);
}

TEST(StreamUsageTest, AnthropicEventsGiveInputOutputAndCacheCounts) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(readGolden("sse/anthropic_messages.sse"), &kinds);
    EXPECT_EQ(kinds.back(), StreamEventKind::Done);
    EXPECT_EQ(std::count(kinds.begin(), kinds.end(), StreamEventKind::UsageOnly), 0);
    EXPECT_EQ(result, (StreamUsage{.usage = {.model = "claude-sonnet-4-20250514",
                                             .prompt_tokens = 25 + 100 + 2000,
                                             .completion_tokens = 15,
                                             .total_tokens = 25 + 100 + 2000 + 15,
                                             .cached_prompt_tokens = 2000,
                                             .cache_creation_tokens = 100},
                                   .usage_reported = true,
                                   .done = true,
                                   .events = 7}));
}

TEST(StreamUsageTest, AnthropicMessageDeltaMayRestateInputCounts) {
    const StreamUsage result = accumulate(
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-opus-4-1\","
        "\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":10,"
        "\"cache_read_input_tokens\":30,\"output_tokens\":4}}\n\n");
    EXPECT_EQ(result.usage.prompt_tokens, 40u);
    EXPECT_EQ(result.usage.cached_prompt_tokens, 30u);
    EXPECT_EQ(result.usage.completion_tokens, 4u);
    EXPECT_EQ(result.usage.total_tokens, 44u);
}

TEST(StreamUsageTest, OpenAiStreamCutBeforeUsageKeepsModelAndUnknownCompletion) {
    std::string stream = readGolden("sse/openai_chat_include_usage.sse");
    stream.resize(stream.find("data: {", stream.find("\"finish_reason\":\"stop\"")));
    const StreamUsage result = accumulate(stream);
    EXPECT_EQ(result, (StreamUsage{.usage = {.model = "gpt-4o-2024-08-06"},
                                   .usage_reported = false,
                                   .done = false,
                                   .events = 4}));
}

TEST(StreamUsageTest, AnthropicStreamCutAfterMessageStartKnowsOnlyThePrompt) {
    std::string stream = readGolden("sse/anthropic_messages.sse");
    stream.resize(stream.find("event: content_block_delta"));
    const StreamUsage result = accumulate(stream);
    EXPECT_EQ(result.usage.prompt_tokens, 2125u);
    EXPECT_EQ(result.usage.completion_tokens, std::nullopt) << "message_start's is a placeholder";
    EXPECT_EQ(result.usage.total_tokens, std::nullopt);
    EXPECT_FALSE(result.usage_reported);
    EXPECT_FALSE(result.done);
}

TEST(StreamUsageTest, GarbageEventsAreIgnored) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(
        "data: {not json \"usage\": {\"prompt_tokens\": 1}\n\n"
        "data: {\"usage\": {\"prompt_tokens\": \"many\"}, \"choices\": []}\n\n"
        "data: [1, 2]\n\n"
        "event: message_start\ndata: nope\n\n"
        "event: message_delta\ndata: {\"usage\": 5}\n\n"
        "event: surprise\ndata: {}\n\n",
        &kinds);
    EXPECT_EQ(result.usage.prompt_tokens, std::nullopt);
    EXPECT_EQ(result.usage.completion_tokens, std::nullopt);
    EXPECT_FALSE(result.usage_reported);
    EXPECT_EQ(result.events, 6u);
    EXPECT_FALSE(result.done);
    // The second event is shaped like a usage chunk: it is still the usage chunk, just unreadable.
    EXPECT_EQ(kinds[1], StreamEventKind::UsageOnly);
    EXPECT_EQ(std::count(kinds.begin(), kinds.end(), StreamEventKind::UsageOnly), 1);
}

TEST(StreamUsageTest, UsageWordInContentDoesNotConfuseTheScan) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\": {\"}}],"
        "\"usage\":null}\n\n",
        &kinds);
    EXPECT_EQ(kinds, std::vector<StreamEventKind>{StreamEventKind::Other});
    EXPECT_FALSE(result.usage_reported);
    EXPECT_EQ(result.usage.model, "m");
}

TEST(StreamUsageTest, ResponsesApiCompletedEvent) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(
        "event: response.output_text.delta\n"
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
        "event: response.completed\n"
        "data: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-4.1\","
        "\"usage\":{\"input_tokens\":9,\"output_tokens\":2,\"total_tokens\":11}}}\n\n",
        &kinds);
    EXPECT_EQ(kinds.back(), StreamEventKind::Done);
    EXPECT_EQ(
        result.usage,
        (Usage{
            .model = "gpt-4.1", .prompt_tokens = 9, .completion_tokens = 2, .total_tokens = 11}));
    EXPECT_TRUE(result.done);
}

TEST(StreamUsageTest, ResponsesApiEventsWithoutEventLinesAreReadByTheirType) {
    std::vector<StreamEventKind> kinds;
    const StreamUsage result = accumulate(
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
        "data: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-4.1\","
        "\"usage\":{\"input_tokens\":9,\"output_tokens\":2,\"total_tokens\":11}}}\n\n",
        &kinds);
    EXPECT_EQ(kinds.back(), StreamEventKind::Done);
    EXPECT_EQ(result.events, 2u);
    EXPECT_TRUE(result.usage_reported);
    EXPECT_EQ(result.usage.prompt_tokens, 9u);
    EXPECT_EQ(result.usage.completion_tokens, 2u);
}

}  // namespace
}  // namespace aiproxy::ai

namespace aiproxy::ai {
namespace {

// text_bytes, for a budget that charges a stream cut before its usage by what it relayed: the
// content deltas' bytes as written, counted only when asked (a scan of every event).
TEST(StreamTextBytesTest, CountedOnlyWhenAskedInBothApis) {
    auto count = [](const std::string& stream, bool on) {
        SseFramer framer;
        std::vector<SseEvent> events;
        framer.feed(stream, events);
        StreamUsageAccumulator accumulator;
        accumulator.countText(on);
        for (const SseEvent& event : events)
            accumulator.add(event);
        return accumulator.result().text_bytes;
    };
    const std::string openai = test::readGolden("sse/openai_chat_include_usage.sse");
    const std::string anthropic = test::readGolden("sse/anthropic_messages.sse");
    EXPECT_EQ(count(openai, true), 43u);
    EXPECT_EQ(count(anthropic, true), 18u);
    EXPECT_EQ(count(openai, false), 0u);
    EXPECT_EQ(count(anthropic, false), 0u);
}

}  // namespace
}  // namespace aiproxy::ai
