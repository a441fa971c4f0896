// OpenAI Responses API <-> Anthropic messages: requests, plain answers and streams.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aiproxy/ai/responses_translation.hpp"
#include "aiproxy/ai/stream_preamble.hpp"
#include "anthropic_golden.hpp"

namespace aiproxy::ai {
namespace {

using test::Json;
using test::parse;
using test::splitSse;
using State = StreamTranslator::State;

constexpr std::int64_t kCreated = 1'700'000'000;

Json request(const Json& body) {
    auto translated = responsesToAnthropicRequest(body.dump());
    EXPECT_TRUE(translated.ok()) << translated.error;
    return parse(translated.body);
}

std::string refusal(const Json& body) {
    auto translated = responsesToAnthropicRequest(body.dump());
    EXPECT_FALSE(translated.ok()) << translated.body;
    return translated.error;
}

TEST(ResponsesRequestTest, AStringInputBecomesOneUserMessage) {
    Json out = request({{"model", "claude-sonnet-4"},
                        {"input", "Hello"},
                        {"instructions", "Be brief."},
                        {"max_output_tokens", 300},
                        {"temperature", 1.5},
                        {"top_p", 0.9},
                        {"stream", true},
                        {"user", "u-1"},
                        {"store", true},
                        {"reasoning", {{"effort", "low"}}}});
    EXPECT_EQ(out, (Json{{"model", "claude-sonnet-4"},
                         {"system", "Be brief."},
                         {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                         {"max_tokens", 300},
                         {"temperature", 1.0},
                         {"top_p", 0.9},
                         {"stream", true},
                         {"metadata", {{"user_id", "u-1"}}}}));
}

TEST(ResponsesRequestTest, MessageItemsBecomeAlternatingTurnsAndSystemBlocks) {
    Json out = request(
        {{"model", "m"},
         {"input",
          {{{"role", "developer"}, {"content", "Rule one."}},
           {{"type", "message"},
            {"role", "user"},
            {"content", {{{"type", "input_text"}, {"text", "Hi"}}}}},
           {{"role", "user"}, {"content", "again"}},
           {{"type", "message"},
            {"role", "assistant"},
            {"content", {{{"type", "output_text"}, {"text", "Hello!"}, {"annotations", {}}}}}},
           {{"role", "user"}, {"content", "Bye"}}}}});
    EXPECT_EQ(out["system"], "Rule one.");
    EXPECT_EQ(out["max_tokens"], kDefaultAnthropicMaxTokens);
    EXPECT_EQ(out["messages"],
              (Json{{{"role", "user"},
                     {"content",
                      {{{"type", "text"}, {"text", "Hi"}}, {{"type", "text"}, {"text", "again"}}}}},
                    {{"role", "assistant"}, {"content", {{{"type", "text"}, {"text", "Hello!"}}}}},
                    {{"role", "user"}, {"content", "Bye"}}}));
}

TEST(ResponsesRequestTest, WhatCannotBeTranslatedIsRefusedWithItsPath) {
    EXPECT_EQ(refusal({{"input", "x"}, {"tools", {{{"type", "function"}, {"name", "f"}}}}}),
              "tools: tools are not translated for an Anthropic upstream");
    EXPECT_NE(
        refusal({{"input", "x"}, {"previous_response_id", "resp_1"}}).find("previous_response_id:"),
        std::string::npos);
    EXPECT_EQ(refusal({{"input",
                        {{{"role", "user"}, {"content", "x"}},
                         {{"type", "function_call_output"}, {"call_id", "c"}, {"output", "1"}}}}}),
              "input[1].type: \"function_call_output\" items cannot be sent to an Anthropic "
              "upstream (messages only)");
    EXPECT_EQ(refusal({{"input",
                        {{{"role", "user"},
                          {"content", {{{"type", "input_image"}, {"image_url", "https://x"}}}}}}}}),
              "input[0].content[0].type: content part \"input_image\" cannot be sent to an "
              "Anthropic upstream (text only)");
    EXPECT_EQ(refusal({{"input", "x"}, {"text", {{"format", {{"type", "json_schema"}}}}}}),
              "text.format: \"json_schema\" is not supported by an Anthropic upstream");
    EXPECT_EQ(refusal({{"model", "m"}}), "input: required");
    EXPECT_EQ(refusal({{"input", "x"}, {"max_output_tokens", 0}}),
              "max_output_tokens: must be a positive integer");
}

TEST(ResponsesAnswerTest, AMessageBecomesAResponseWithOneOutputTextPerTextBlock) {
    auto translated = anthropicToResponsesResponse(
        R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4",)"
        R"("content":[{"type":"thinking","thinking":"hmm","signature":"s"},)"
        R"({"type":"text","text":"Hello"},{"type":"text","text":" there"}],)"
        R"("stop_reason":"end_turn","usage":{"input_tokens":10,"cache_read_input_tokens":4,)"
        R"("cache_creation_input_tokens":1,"output_tokens":3}})",
        kCreated);
    ASSERT_TRUE(translated.ok()) << translated.error;
    Json out = parse(translated.body);
    EXPECT_EQ(out["id"], "resp_01");
    EXPECT_EQ(out["object"], "response");
    EXPECT_EQ(out["created_at"], kCreated);
    EXPECT_EQ(out["status"], "completed");
    EXPECT_EQ(out["model"], "claude-sonnet-4");
    EXPECT_TRUE(out["incomplete_details"].is_null());
    EXPECT_FALSE(out.contains("output_text"));  // the SDKs compute it
    ASSERT_EQ(out["output"].size(), 1u);
    const Json& item = out["output"][0];
    EXPECT_EQ(item["type"], "message");
    EXPECT_EQ(item["id"], "msg_01");
    EXPECT_EQ(item["role"], "assistant");
    EXPECT_EQ(item["status"], "completed");
    ASSERT_EQ(item["content"].size(), 2u);
    EXPECT_EQ(item["content"][0], (Json{{"type", "output_text"},
                                        {"text", "Hello"},
                                        {"annotations", Json::array()},
                                        {"logprobs", Json::array()}}));
    EXPECT_EQ(item["content"][1]["text"], " there");
    EXPECT_EQ(out["usage"], (Json{{"input_tokens", 15},
                                  {"input_tokens_details", {{"cached_tokens", 4}}},
                                  {"output_tokens", 3},
                                  {"output_tokens_details", {{"reasoning_tokens", 0}}},
                                  {"total_tokens", 18}}));
}

TEST(ResponsesAnswerTest, MaxTokensIsAnIncompleteResponse) {
    auto translated = anthropicToResponsesResponse(
        R"({"id":"msg_2","content":[{"type":"text","text":"cut"}],"stop_reason":"max_tokens",)"
        R"("usage":{"input_tokens":1,"output_tokens":1}})",
        kCreated);
    Json out = parse(translated.body);
    EXPECT_EQ(out["status"], "incomplete");
    EXPECT_EQ(out["incomplete_details"], (Json{{"reason", "max_output_tokens"}}));
    EXPECT_EQ(out["output"][0]["status"], "incomplete");
    EXPECT_FALSE(anthropicToResponsesResponse(R"({"choices":[]})", kCreated).ok());
}

TEST(ResponsesAnswerTest, ErrorsComeBackInTheOpenAiShape) {
    Json error = parse(translateErrorBody(
        Translation::ResponsesToAnthropic, 529,
        R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
    EXPECT_EQ(error["error"]["message"], "Overloaded");
    EXPECT_EQ(error["error"]["code"], "overloaded_error");
}

// An Anthropic stream as the mock and the API send it: start, ping, one text block, stop.
std::vector<SseEvent> anthropicStream(const std::vector<std::string>& words,
                                      std::string_view stop_reason = "end_turn") {
    std::vector<SseEvent> events{
        {.event = "message_start",
         .data = R"({"type":"message_start","message":{"id":"msg_7","type":"message",)"
                 R"("role":"assistant","model":"claude-haiku","content":[],)"
                 R"("usage":{"input_tokens":12,"output_tokens":1}}})"},
        {.event = "content_block_start",
         .data = R"({"type":"content_block_start","index":0,)"
                 R"("content_block":{"type":"text","text":""}})"},
        {.event = "ping", .data = R"({"type":"ping"})"}};
    for (const auto& word : words) {
        events.push_back({.event = "content_block_delta",
                          .data = Json{{"type", "content_block_delta"},
                                       {"index", 0},
                                       {"delta", {{"type", "text_delta"}, {"text", word}}}}
                                      .dump()});
    }
    events.push_back(
        {.event = "content_block_stop", .data = R"({"type":"content_block_stop","index":0})"});
    events.push_back({.event = "message_delta",
                      .data = Json{{"type", "message_delta"},
                                   {"delta", {{"stop_reason", stop_reason}}},
                                   {"usage", {{"output_tokens", words.size()}}}}
                                  .dump()});
    events.push_back({.event = "message_stop", .data = R"({"type":"message_stop"})"});
    return events;
}

struct Translated {
    std::string text;
    std::vector<std::pair<std::string, Json>> events;  // name, data; comments left out
};

Translated translate(StreamTranslator& translator, const std::vector<SseEvent>& events) {
    Translated out;
    for (const auto& event : events)
        translator.onEvent(event, out.text);
    for (const auto& block : splitSse(out.text)) {
        if (block.comment.empty()) out.events.emplace_back(block.event, parse(block.data));
    }
    return out;
}

TEST(ResponsesStreamTest, AnthropicEventsBecomeTheResponsesEventSequence) {
    auto translator =
        makeAnthropicToResponsesStream({.created = kCreated, .fallback_model = "asked"});
    auto out = translate(*translator, anthropicStream({"Hel", "lo"}));
    std::vector<std::string> names;
    for (const auto& [name, data] : out.events) {
        names.push_back(name);
        EXPECT_EQ(data["type"], name);  // the name and data.type agree
        EXPECT_EQ(data["sequence_number"], names.size() - 1);
    }
    EXPECT_EQ(names,
              (std::vector<std::string>{"response.created", "response.in_progress",
                                        "response.output_item.added", "response.content_part.added",
                                        "response.output_text.delta", "response.output_text.delta",
                                        "response.output_text.done", "response.content_part.done",
                                        "response.output_item.done", "response.completed"}));
    const Json& created = out.events[0].second["response"];
    EXPECT_EQ(created["id"], "resp_7");
    EXPECT_EQ(created["status"], "in_progress");
    EXPECT_EQ(created["model"], "claude-haiku");
    EXPECT_TRUE(created["usage"].is_null());
    EXPECT_EQ(out.events[2].second["item"]["content"], Json::array());
    const Json& delta = out.events[4].second;
    EXPECT_EQ(delta["item_id"], "msg_7");
    EXPECT_EQ(delta["output_index"], 0);
    EXPECT_EQ(delta["content_index"], 0);
    EXPECT_EQ(delta["delta"], "Hel");
    EXPECT_EQ(out.events[6].second["text"], "Hello");
    EXPECT_EQ(out.events[7].second["part"]["text"], "Hello");
    EXPECT_EQ(out.events[8].second["item"]["content"][0]["text"], "Hello");
    const Json& done = out.events[9].second["response"];
    EXPECT_EQ(done["status"], "completed");
    EXPECT_EQ(done["output"][0]["content"][0]["text"], "Hello");
    EXPECT_EQ(done["usage"]["input_tokens"], 12);
    EXPECT_EQ(done["usage"]["output_tokens"], 2);
    EXPECT_EQ(done["usage"]["total_tokens"], 14);
    EXPECT_EQ(translator->state(), State::Complete);
}

TEST(ResponsesStreamTest, TheOpeningIsAPreambleAndTheFirstDeltaIsContent) {
    auto translator = makeAnthropicToResponsesStream({.created = kCreated});
    auto events = anthropicStream({"Hi"});
    std::string opening;
    for (std::size_t i = 0; i < 3; ++i)
        translator->onEvent(events[i], opening);
    EXPECT_TRUE(onlyStreamPreamble(opening));
    std::string delta = opening;
    translator->onEvent(events[3], delta);
    EXPECT_FALSE(onlyStreamPreamble(delta));
}

TEST(ResponsesStreamTest, MaxTokensEndsWithResponseIncomplete) {
    auto translator = makeAnthropicToResponsesStream({.created = kCreated});
    auto out = translate(*translator, anthropicStream({"cut"}, "max_tokens"));
    EXPECT_EQ(out.events.back().first, "response.incomplete");
    EXPECT_EQ(out.events.back().second["response"]["incomplete_details"]["reason"],
              "max_output_tokens");
}

TEST(ResponsesStreamTest, AnErrorEventFailsTheStreamAndTheHold) {
    auto translator = makeAnthropicToResponsesStream({.created = kCreated});
    auto events = anthropicStream({});
    events.resize(3);
    events.push_back({.event = "error",
                      .data = R"({"type":"error","error":{"type":"overloaded_error",)"
                              R"("message":"Overloaded"}})"});
    auto out = translate(*translator, events);
    EXPECT_EQ(translator->state(), State::Failed);
    EXPECT_EQ(out.events.back().first, "error");
    EXPECT_EQ(out.events.back().second["code"], "overloaded_error");
    EXPECT_EQ(out.events.back().second["message"], "Overloaded");
    std::size_t verified = 0;
    EXPECT_EQ(classifyStreamStart(out.text, verified), StreamStart::UpstreamError);
}

TEST(ResponsesStreamTest, AnUpstreamThatClosesAfterItsStopReasonStillCompletes) {
    auto translator = makeAnthropicToResponsesStream({.created = kCreated});
    auto events = anthropicStream({"a"});
    events.pop_back();  // no message_stop
    auto out = translate(*translator, events);
    EXPECT_EQ(translator->state(), State::Open);
    std::string tail;
    translator->onUpstreamEnd(tail);
    EXPECT_EQ(translator->state(), State::Complete);
    EXPECT_NE(tail.find("event: response.completed"), std::string::npos);
}

}  // namespace
}  // namespace aiproxy::ai
