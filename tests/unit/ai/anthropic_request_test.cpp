#include <string>

#include <gtest/gtest.h>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "anthropic_golden.hpp"

namespace aiproxy::ai {
namespace {

using test::Json;
using test::parse;
using test::readGolden;
using test::readGoldenJson;

// The translated body as JSON; fails the test when the translation failed.
Json toAnthropic(const Json& openai, const AnthropicRequestOptions& options = {}) {
    auto result = openAiChatToAnthropicRequest(openai.dump(), options);
    EXPECT_TRUE(result.ok()) << result.error;
    return parse(result.body);
}

Json toOpenAi(const Json& anthropic) {
    auto result = anthropicToOpenAiChatRequest(anthropic.dump());
    EXPECT_TRUE(result.ok()) << result.error;
    return parse(result.body);
}

std::string toAnthropicError(const Json& openai) {
    auto result = openAiChatToAnthropicRequest(openai.dump());
    EXPECT_FALSE(result.ok()) << result.body;
    return result.error;
}

std::string toOpenAiError(const Json& anthropic) {
    auto result = anthropicToOpenAiChatRequest(anthropic.dump());
    EXPECT_FALSE(result.ok()) << result.body;
    return result.error;
}

Json userSays(std::string_view text) {
    return Json{{"model", "m"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
}

TEST(AnthropicRequestTest, OpenAiChatRequestMatchesGolden) {
    EXPECT_EQ(toAnthropic(readGoldenJson("anthropic/openai_chat_request.json")),
              readGoldenJson("anthropic/openai_chat_request.to_anthropic.json"));
}

TEST(AnthropicRequestTest, AnthropicMessagesRequestMatchesGolden) {
    EXPECT_EQ(toOpenAi(readGoldenJson("anthropic/anthropic_messages_request.json")),
              readGoldenJson("anthropic/anthropic_messages_request.to_openai.json"));
}

TEST(AnthropicRequestTest, MaxTokensDefaultsWhenTheClientGivesNone) {
    EXPECT_EQ(toAnthropic(userSays("hi"))["max_tokens"], kDefaultAnthropicMaxTokens);
    EXPECT_EQ(toAnthropic(userSays("hi"), {.default_max_tokens = 512})["max_tokens"], 512);
    Json legacy = userSays("hi");
    legacy["max_tokens"] = 77;
    EXPECT_EQ(toAnthropic(legacy)["max_tokens"], 77);
    legacy["max_tokens"] = 0;
    EXPECT_EQ(toAnthropicError(legacy), "max_tokens: must be a positive integer");
}

TEST(AnthropicRequestTest, SingleSystemMessageBecomesAString) {
    Json request = userSays("hi");
    request["messages"].insert(request["messages"].begin(),
                               Json{{"role", "system"}, {"content", "Be brief."}});
    Json out = toAnthropic(request);
    EXPECT_EQ(out["system"], "Be brief.");
    EXPECT_EQ(out["messages"], Json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST(AnthropicRequestTest, ConsecutiveSameRoleMessagesAreMerged) {
    Json request = Json::parse(R"({"model":"m","messages":[
        {"role":"user","content":"one"},
        {"role":"user","content":[{"type":"text","text":"two"}]},
        {"role":"assistant","content":"three"},
        {"role":"assistant","content":"four"}]})");
    EXPECT_EQ(toAnthropic(request)["messages"], Json::parse(R"([
        {"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
        {"role":"assistant","content":[{"type":"text","text":"three"},
                                       {"type":"text","text":"four"}]}])"));
}

TEST(AnthropicRequestTest, ParallelToolResultsShareOneUserMessage) {
    Json request = Json::parse(R"({"model":"m","messages":[
        {"role":"user","content":"weather in Paris and Rome?"},
        {"role":"assistant","content":"","tool_calls":[
            {"id":"a","type":"function","function":{"name":"w","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"b","type":"function","function":{"name":"w","arguments":""}}]},
        {"role":"tool","tool_call_id":"a","content":"18C"},
        {"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"21C"}]}]})");
    EXPECT_EQ(toAnthropic(request)["messages"], Json::parse(R"([
        {"role":"user","content":"weather in Paris and Rome?"},
        {"role":"assistant","content":[
            {"type":"tool_use","id":"a","name":"w","input":{"city":"Paris"}},
            {"type":"tool_use","id":"b","name":"w","input":{}}]},
        {"role":"user","content":[
            {"type":"tool_result","tool_use_id":"a","content":"18C"},
            {"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"21C"}]}]}])"));
}

TEST(AnthropicRequestTest, StopAcceptsAStringOrAList) {
    Json request = userSays("hi");
    request["stop"] = "END";
    EXPECT_EQ(toAnthropic(request)["stop_sequences"], Json::array({"END"}));
    request["stop"] = {"a", "b"};
    EXPECT_EQ(toAnthropic(request)["stop_sequences"], Json::array({"a", "b"}));
    request["stop"] = nullptr;
    EXPECT_FALSE(toAnthropic(request).contains("stop_sequences"));
    request["stop"] = 3;
    EXPECT_EQ(toAnthropicError(request), "stop: must be a string or an array of strings");
}

TEST(AnthropicRequestTest, TemperatureIsClampedToAnthropicsRange) {
    Json request = userSays("hi");
    request["temperature"] = 1.6;
    EXPECT_EQ(toAnthropic(request)["temperature"], 1.0);
    request["temperature"] = 0;
    EXPECT_EQ(toAnthropic(request)["temperature"], 0.0);
}

TEST(AnthropicRequestTest, ToolChoiceMapsEachForm) {
    Json request = userSays("hi");
    request["tools"] = Json::parse(R"([{"type":"function","function":{"name":"f"}}])");
    request["tool_choice"] = "none";
    EXPECT_EQ(toAnthropic(request)["tool_choice"], Json::parse(R"({"type":"none"})"));
    request["tool_choice"] = "required";
    EXPECT_EQ(toAnthropic(request)["tool_choice"], Json::parse(R"({"type":"any"})"));
    request["tool_choice"] = Json::parse(R"({"type":"function","function":{"name":"f"}})");
    EXPECT_EQ(toAnthropic(request)["tool_choice"], Json::parse(R"({"type":"tool","name":"f"})"));
    request.erase("tool_choice");
    EXPECT_FALSE(toAnthropic(request).contains("tool_choice"));
    // A tool without parameters still gets the object schema Anthropic requires.
    EXPECT_EQ(toAnthropic(request)["tools"],
              Json::parse(R"([{"name":"f","input_schema":{"type":"object","properties":{}}}])"));
    request["tool_choice"] = "sometimes";
    EXPECT_EQ(toAnthropicError(request), "tool_choice: must be auto, none, required or a function");
}

TEST(AnthropicRequestTest, ImageUrlsBecomeUrlOrBase64Sources) {
    Json request = Json::parse(R"({"model":"m","messages":[{"role":"user","content":[
        {"type":"image_url","image_url":{"url":"https://example.com/a.png"}},
        {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]}]})");
    EXPECT_EQ(toAnthropic(request)["messages"][0]["content"], Json::parse(R"([
        {"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},
        {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}])"));
}

TEST(AnthropicRequestTest, WhatAnthropicCannotServeIsAnError) {
    Json request = userSays("hi");
    request["n"] = 2;
    EXPECT_EQ(toAnthropicError(request), "n: an Anthropic upstream returns one choice");

    request = userSays("hi");
    request["response_format"] = {{"type", "json_object"}};
    EXPECT_EQ(toAnthropicError(request),
              "response_format: \"json_object\" is not supported by an Anthropic upstream");
    request["response_format"] = {{"type", "text"}};
    EXPECT_TRUE(openAiChatToAnthropicRequest(request.dump()).ok());

    request = Json::parse(R"({"model":"m","messages":[{"role":"user","content":[
        {"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]})");
    EXPECT_EQ(toAnthropicError(request),
              "messages[0].content[0].type: content part \"input_audio\" cannot be sent to an "
              "Anthropic upstream");

    request = Json::parse(R"({"model":"m","messages":[{"role":"assistant","content":null,
        "tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1"}}]}]})");
    EXPECT_EQ(toAnthropicError(request),
              "messages[0].tool_calls[0].function.arguments: must be a JSON object");

    request = Json::parse(R"({"model":"m","messages":[{"role":"function","content":"x"}]})");
    EXPECT_EQ(toAnthropicError(request),
              "messages[0].role: \"function\" cannot be sent to an Anthropic upstream");

    request = Json::parse(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})");
    EXPECT_EQ(toAnthropicError(request), "messages[0].tool_call_id: required");

    EXPECT_EQ(toAnthropicError(Json::parse(R"({"model":"m"})")), "messages: required");
    EXPECT_EQ(toAnthropicError(Json::array()), "the request body must be a JSON object");
    EXPECT_EQ(openAiChatToAnthropicRequest("{not json").error,
              "the request body is not valid JSON");
}

TEST(AnthropicRequestTest, DeeplyNestedBodiesAreRefusedBeforeParsing) {
    std::string body = R"({"model":"m","messages":[],"x":)" + std::string(200'000, '[') +
                       std::string(200'000, ']') + "}";
    EXPECT_EQ(openAiChatToAnthropicRequest(body).error, "the request body is not valid JSON");
    EXPECT_EQ(anthropicToOpenAiChatRequest(body).error, "the request body is not valid JSON");
    // Brackets inside strings are text, not nesting.
    Json request = userSays(std::string(2'000, '['));
    EXPECT_TRUE(openAiChatToAnthropicRequest(request.dump()).ok());
}

TEST(AnthropicRequestTest, UnknownOpenAiFieldsAreNotForwarded) {
    Json request = userSays("hi");
    request["presence_penalty"] = 1;
    request["logit_bias"] = {{"50256", -100}};
    request["store"] = true;
    request["stream_options"] = {{"include_usage", true}};
    Json out = toAnthropic(request);
    for (const char* key : {"presence_penalty", "logit_bias", "store", "stream_options"}) {
        EXPECT_FALSE(out.contains(key)) << key;
    }
}

TEST(AnthropicRequestTest, AnthropicToolChoiceMapsEachForm) {
    Json request = Json::parse(R"({"model":"m","max_tokens":10,
        "messages":[{"role":"user","content":"hi"}],
        "tools":[{"name":"f","input_schema":{"type":"object"}}]})");
    request["tool_choice"] = {{"type", "auto"}};
    EXPECT_EQ(toOpenAi(request)["tool_choice"], "auto");
    request["tool_choice"] = {{"type", "none"}};
    EXPECT_EQ(toOpenAi(request)["tool_choice"], "none");
    request["tool_choice"] = {{"type", "tool"}, {"name", "f"}};
    EXPECT_EQ(toOpenAi(request)["tool_choice"],
              Json::parse(R"({"type":"function","function":{"name":"f"}})"));
    EXPECT_FALSE(toOpenAi(request).contains("parallel_tool_calls"));
}

TEST(AnthropicRequestTest, NonStreamingAnthropicRequestAsksNoUsageChunk) {
    Json request = Json::parse(R"({"model":"m","max_tokens":10,"stream":false,
        "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]})");
    Json out = toOpenAi(request);
    EXPECT_EQ(out["stream"], false);
    EXPECT_FALSE(out.contains("stream_options"));
    // A lone text block is sent as a plain string, which every OpenAI-style server accepts.
    EXPECT_EQ(out["messages"], Json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST(AnthropicRequestTest, WhatAnOpenAiUpstreamCannotServeIsAnError) {
    Json request = Json::parse(R"({"model":"m","max_tokens":10,
        "messages":[{"role":"user","content":"hi"}],
        "tools":[{"type":"web_search_20250305","name":"web_search"}]})");
    EXPECT_EQ(toOpenAiError(request),
              "tools[0].type: \"web_search_20250305\" tools run on Anthropic's servers only");

    request = Json::parse(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":[
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"x"}}]}]})");
    EXPECT_EQ(toOpenAiError(request),
              "messages[0].content[0].type: \"document\" cannot be sent to an OpenAI-style "
              "upstream");

    request = Json::parse(R"({"model":"m","max_tokens":10,"messages":[{"role":"system",
        "content":"x"}]})");
    EXPECT_EQ(toOpenAiError(request), "messages[0].role: must be user or assistant");
    EXPECT_EQ(toOpenAiError(Json::parse(R"({"model":"m"})")), "messages: must be an array");
}

}  // namespace
}  // namespace aiproxy::ai
