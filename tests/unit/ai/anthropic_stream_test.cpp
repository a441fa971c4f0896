#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "anthropic_golden.hpp"

namespace aiproxy::ai {
namespace {

using test::expectSameSse;
using test::Json;
using test::parse;
using test::readGolden;
using test::splitSse;
using State = StreamTranslator::State;

constexpr std::int64_t kCreated = 1'700'000'000;

// Feeds a transcript one event at a time, as the relay does, and returns all client bytes.
std::string feed(StreamTranslator& translator, std::string_view transcript) {
    std::string out;
    for (const auto& block : splitSse(transcript)) {
        if (!block.comment.empty()) continue;
        translator.onEvent(block.toEvent(), out);
    }
    return out;
}

SseEvent anthropicEvent(std::string_view type, std::string_view data) {
    return {.event = std::string(type), .data = std::string(data)};
}

SseEvent openAiEvent(std::string_view data) {
    return {.data = std::string(data)};
}

std::vector<Json> dataChunks(std::string_view out) {
    std::vector<Json> chunks;
    for (const auto& block : splitSse(out)) {
        if (!block.data.empty() && block.data != "[DONE]") chunks.push_back(parse(block.data));
    }
    return chunks;
}

TEST(AnthropicStreamTest, AnthropicEventsMatchGolden) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated, .include_usage = true});
    std::string out = feed(*translator, readGolden("anthropic/anthropic_stream.sse"));
    expectSameSse(out, readGolden("anthropic/anthropic_stream.to_openai.sse"));
    EXPECT_EQ(translator->state(), State::Complete);
}

TEST(AnthropicStreamTest, OpenAiChunksMatchGolden) {
    auto translator = makeOpenAiToAnthropicStream({});
    std::string out = feed(*translator, readGolden("anthropic/openai_stream.sse"));
    expectSameSse(out, readGolden("anthropic/openai_stream.to_anthropic.sse"));
    EXPECT_EQ(translator->state(), State::Complete);
}

// The fields the openai SDKs read from every chunk, and what a client assembles from them.
TEST(AnthropicStreamTest, EveryChunkHasWhatOpenAiSdksRequire) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string content;
    std::string arguments;
    std::string finish_reason;
    std::string out;
    for (const auto& block : splitSse(readGolden("anthropic/anthropic_stream.sse"))) {
        std::string bytes;
        translator->onEvent(block.toEvent(), bytes);
        out += bytes;
        for (const Json& chunk : dataChunks(bytes)) {
            ASSERT_TRUE(chunk.is_object()) << bytes;
            EXPECT_TRUE(chunk["id"].is_string());
            EXPECT_EQ(chunk["object"], "chat.completion.chunk");
            EXPECT_TRUE(chunk["created"].is_number_integer());
            EXPECT_EQ(chunk["model"], "claude-sonnet-4-5-20250929");
            ASSERT_TRUE(chunk["choices"].is_array());
            ASSERT_EQ(chunk["choices"].size(), 1u) << "no usage chunk unless asked";
            const Json& choice = chunk["choices"][0];
            EXPECT_EQ(choice["index"], 0);
            ASSERT_TRUE(choice["delta"].is_object());
            ASSERT_TRUE(choice.contains("finish_reason"));
            if (choice["finish_reason"].is_string()) finish_reason = choice["finish_reason"];
            const Json& delta = choice["delta"];
            if (delta.contains("content")) content += delta["content"].get<std::string>();
            if (delta.contains("tool_calls")) {
                const Json& call = delta["tool_calls"][0];
                EXPECT_EQ(call["index"], 0);
                arguments += call["function"]["arguments"].get<std::string>();
            }
        }
    }
    EXPECT_EQ(content, "Okay, let me check.");
    EXPECT_EQ(parse(arguments), Json::parse(R"({"location":"Paris, France"})"));
    EXPECT_EQ(finish_reason, "tool_calls");
    EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
}

TEST(AnthropicStreamTest, FirstChunkCarriesTheRole) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string out;
    translator->onEvent(
        anthropicEvent("message_start",
                       R"({"type":"message_start","message":{"id":"msg_1","model":"claude",
                           "usage":{"input_tokens":5,"output_tokens":1}}})"),
        out);
    auto chunks = dataChunks(out);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0]["choices"][0]["delta"],
              Json::parse(R"({"role":"assistant","content":""})"));
    EXPECT_EQ(chunks[0]["id"], "msg_1");
}

TEST(AnthropicStreamTest, UpstreamCutBeforeTheStopReasonStaysAbrupt) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string transcript = readGolden("anthropic/anthropic_stream.sse");
    transcript.resize(transcript.find("event: message_delta"));
    feed(*translator, transcript);
    std::string out;
    translator->onUpstreamEnd(out);
    EXPECT_EQ(out, "");
    EXPECT_EQ(translator->state(), State::Open);
}

TEST(AnthropicStreamTest, UpstreamEndAfterTheStopReasonCompletes) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated, .include_usage = true});
    std::string transcript = readGolden("anthropic/anthropic_stream.sse");
    transcript.resize(transcript.find("event: message_stop"));
    feed(*translator, transcript);
    std::string out;
    translator->onUpstreamEnd(out);
    auto chunks = dataChunks(out);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0]["usage"]["completion_tokens"], 89);
    EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
    EXPECT_EQ(translator->state(), State::Complete);
}

TEST(AnthropicStreamTest, ErrorEventBecomesAnOpenAiStreamError) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string out;
    translator->onEvent(anthropicEvent("message_start", R"({"type":"message_start",
        "message":{"id":"msg_1","model":"claude","usage":{"input_tokens":5}}})"),
                        out);
    out.clear();
    translator->onEvent(anthropicEvent("error", R"({"type":"error","error":{
        "type":"overloaded_error","message":"Overloaded"}})"),
                        out);
    EXPECT_EQ(parse(splitSse(out).at(0).data),
              Json::parse(R"({"error":{"message":"Overloaded","type":"server_error",
                  "code":"overloaded_error"}})"));
    EXPECT_EQ(translator->state(), State::Failed);
    out.clear();
    translator->onEvent(anthropicEvent("message_stop", R"({"type":"message_stop"})"), out);
    translator->onUpstreamEnd(out);
    EXPECT_EQ(out, "") << "nothing follows an error";
}

TEST(AnthropicStreamTest, ThinkingDeltasBecomeReasoningContent) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string out;
    translator->onEvent(anthropicEvent("content_block_start", R"({"type":"content_block_start",
        "index":0,"content_block":{"type":"thinking","thinking":""}})"),
                        out);
    out.clear();
    translator->onEvent(anthropicEvent("content_block_delta", R"({"type":"content_block_delta",
        "index":0,"delta":{"type":"thinking_delta","thinking":"Let me think"}})"),
                        out);
    translator->onEvent(anthropicEvent("content_block_delta", R"({"type":"content_block_delta",
        "index":0,"delta":{"type":"signature_delta","signature":"EqQB"}})"),
                        out);
    auto chunks = dataChunks(out);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0]["choices"][0]["delta"],
              Json::parse(R"({"reasoning_content":"Let me think"})"));
}

TEST(AnthropicStreamTest, SecondToolUseGetsTheNextToolIndex) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string out;
    for (int block : {0, 1}) {
        std::string index = std::to_string(block);
        translator->onEvent(anthropicEvent("content_block_start",
                                           R"({"type":"content_block_start","index":)" + index +
                                               R"(,"content_block":{"type":"tool_use","id":"t)" +
                                               index + R"(","name":"f","input":{}}})"),
                            out);
        translator->onEvent(
            anthropicEvent("content_block_delta",
                           R"({"type":"content_block_delta","index":)" + index +
                               R"(,"delta":{"type":"input_json_delta","partial_json":"{}"}})"),
            out);
    }
    std::vector<int> indexes;
    for (const Json& chunk : dataChunks(out)) {
        const Json& delta = chunk["choices"][0]["delta"];
        if (delta.contains("tool_calls")) indexes.push_back(delta["tool_calls"][0]["index"]);
    }
    EXPECT_EQ(indexes, (std::vector<int>{0, 0, 1, 1}));
}

TEST(AnthropicStreamTest, OpenAiErrorChunkBecomesAnAnthropicErrorEvent) {
    auto translator = makeOpenAiToAnthropicStream({});
    std::string out;
    translator->onEvent(openAiEvent(R"({"error":{"message":"The server had an error",
        "type":"server_error","code":null}})"),
                        out);
    auto blocks = splitSse(out);
    ASSERT_EQ(blocks.size(), 1u);
    EXPECT_EQ(blocks[0].event, "error");
    EXPECT_EQ(parse(blocks[0].data), Json::parse(R"({"type":"error","error":{"type":"api_error",
        "message":"The server had an error"}})"));
    EXPECT_EQ(translator->state(), State::Failed);
}

TEST(AnthropicStreamTest, OpenAiStreamWithoutDoneCompletesAfterItsFinishReason) {
    auto translator = makeOpenAiToAnthropicStream({});
    std::string out;
    translator->onEvent(openAiEvent(R"({"id":"c","model":"llama","choices":[{"index":0,
        "delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]})"),
                        out);
    translator->onEvent(openAiEvent(R"({"id":"c","model":"llama","choices":[{"index":0,
        "delta":{},"finish_reason":"length"}]})"),
                        out);
    EXPECT_EQ(translator->state(), State::Open);
    translator->onUpstreamEnd(out);
    EXPECT_EQ(translator->state(), State::Complete);
    std::vector<std::string> events;
    for (const auto& block : splitSse(out))
        events.push_back(block.event);
    EXPECT_EQ(events, (std::vector<std::string>{"message_start", "content_block_start",
                                                "content_block_delta", "content_block_stop",
                                                "message_delta", "message_stop"}));
    EXPECT_EQ(parse(splitSse(out)[4].data)["delta"]["stop_reason"], "max_tokens");
}

TEST(AnthropicStreamTest, OpenAiStreamCutMidAnswerStaysAbrupt) {
    auto translator = makeOpenAiToAnthropicStream({});
    std::string out;
    translator->onEvent(openAiEvent(R"({"id":"c","model":"llama","choices":[{"index":0,
        "delta":{"content":"Hi"},"finish_reason":null}]})"),
                        out);
    out.clear();
    translator->onUpstreamEnd(out);
    EXPECT_EQ(out, "");
    EXPECT_EQ(translator->state(), State::Open);
}

TEST(AnthropicStreamTest, ParallelOpenAiToolCallsBecomeSeparateBlocks) {
    auto translator = makeOpenAiToAnthropicStream({.fallback_model = "m"});
    std::string out;
    translator->onEvent(openAiEvent(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[
        {"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
        {"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":"{}"}}]},
        "finish_reason":null}]})"),
                        out);
    translator->onEvent(openAiEvent("[DONE]"), out);
    std::vector<Json> starts;
    for (const auto& block : splitSse(out)) {
        if (block.event == "content_block_start") starts.push_back(parse(block.data));
    }
    ASSERT_EQ(starts.size(), 2u);
    EXPECT_EQ(starts[0]["index"], 0);
    EXPECT_EQ(starts[0]["content_block"]["id"], "call_a");
    EXPECT_EQ(starts[1]["index"], 1);
    EXPECT_EQ(starts[1]["content_block"]["name"], "g");
    EXPECT_EQ(parse(splitSse(out)[0].data)["message"]["model"], "m");
}

TEST(AnthropicStreamTest, AToolCallWithoutArgumentsGetsAnEmptyObject) {
    auto translator = makeAnthropicToOpenAiStream({.created = kCreated});
    std::string out;
    translator->onEvent(
        anthropicEvent("content_block_start", R"({"type":"content_block_start","index":0,)"
                                              R"("content_block":{"type":"tool_use","id":"t0",)"
                                              R"("name":"now","input":{}}})"),
        out);
    translator->onEvent(anthropicEvent("content_block_delta",
                                       R"({"type":"content_block_delta","index":0,)"
                                       R"("delta":{"type":"input_json_delta","partial_json":""}})"),
                        out);
    translator->onEvent(
        anthropicEvent("content_block_stop", R"({"type":"content_block_stop","index":0})"), out);
    std::string arguments;
    for (const Json& chunk : dataChunks(out)) {
        const Json& delta = chunk["choices"][0]["delta"];
        if (delta.contains("tool_calls")) {
            arguments += delta["tool_calls"][0]["function"]["arguments"].get<std::string>();
        }
    }
    EXPECT_EQ(arguments, "{}");
    EXPECT_TRUE(Json::accept(arguments));
}

TEST(AnthropicStreamTest, InterleavedOpenAiToolCallsKeepOneBlockPerIndex) {
    auto translator = makeOpenAiToAnthropicStream({.fallback_model = "m"});
    std::string out;
    auto call = [&](int index, const std::string& extra, const std::string& arguments) {
        translator->onEvent(
            openAiEvent(R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":)" +
                        std::to_string(index) + extra + R"(,"function":{)" +
                        (extra.empty() ? "" : R"("name":"f)" + std::to_string(index) + R"(",)") +
                        R"("arguments":")" + arguments + R"("}}]},"finish_reason":null}]})"),
            out);
    };
    call(0, R"(,"id":"call_a","type":"function")", R"({\"a\":)");
    call(1, R"(,"id":"call_b","type":"function")", R"({\"b\":)");
    call(0, "", "1}");
    call(1, "", "2}");
    translator->onEvent(
        openAiEvent(
            R"({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})"),
        out);
    translator->onEvent(openAiEvent("[DONE]"), out);
    // What the Anthropic SDK's finalMessage() assembles: one tool_use per call, whole input.
    std::vector<Json> blocks;
    std::vector<std::string> inputs;
    for (const auto& block : splitSse(out)) {
        if (block.event == "content_block_start") {
            blocks.push_back(parse(block.data)["content_block"]);
            inputs.emplace_back();
        } else if (block.event == "content_block_delta") {
            inputs.back() += parse(block.data)["delta"]["partial_json"].get<std::string>();
        }
    }
    ASSERT_EQ(blocks.size(), 2u) << out;
    EXPECT_EQ(blocks[0]["id"], "call_a");
    EXPECT_EQ(blocks[0]["name"], "f0");
    EXPECT_EQ(blocks[1]["id"], "call_b");
    EXPECT_EQ(blocks[1]["name"], "f1");
    EXPECT_EQ(Json::parse(inputs[0]), Json::parse(R"({"a":1})"));
    EXPECT_EQ(Json::parse(inputs[1]), Json::parse(R"({"b":2})"));
}

TEST(AnthropicStreamTest, AStreamedStopSequenceNamedByTheUpstreamIsPassedOn) {
    auto translator = makeOpenAiToAnthropicStream({.fallback_model = "m"});
    std::string out;
    translator->onEvent(openAiEvent(R"({"id":"c","choices":[{"index":0,"delta":{"content":"hi"},)"
                                    R"("finish_reason":null}]})"),
                        out);
    translator->onEvent(openAiEvent(R"({"id":"c","choices":[{"index":0,"delta":{},)"
                                    R"("finish_reason":"stop","stop_reason":"END"}]})"),
                        out);
    translator->onEvent(openAiEvent("[DONE]"), out);
    Json delta;
    for (const auto& block : splitSse(out)) {
        if (block.event == "message_delta") delta = parse(block.data)["delta"];
    }
    EXPECT_EQ(delta["stop_reason"], "stop_sequence");
    EXPECT_EQ(delta["stop_sequence"], "END");
}

TEST(AnthropicStreamTest, FactoryFollowsTheDirection) {
    EXPECT_EQ(makeStreamTranslator(Translation::None, {}), nullptr);
    std::string out;
    makeStreamTranslator(Translation::OpenAiToAnthropic, {})
        ->onEvent(anthropicEvent("ping", R"({"type":"ping"})"), out);
    EXPECT_EQ(out, ": ping\n\n");
    out.clear();
    makeStreamTranslator(Translation::AnthropicToOpenAi, {})->onEvent(openAiEvent("[DONE]"), out);
    EXPECT_TRUE(out.starts_with("event: message_start\n"));
}

}  // namespace
}  // namespace aiproxy::ai
