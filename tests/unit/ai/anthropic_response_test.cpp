#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "anthropic_golden.hpp"

namespace aiproxy::ai {
namespace {

using test::Json;
using test::parse;
using test::readGolden;
using test::readGoldenJson;

constexpr std::int64_t kCreated = 1'700'000'000;

Json toOpenAi(const Json& anthropic) {
    auto result = anthropicToOpenAiResponse(anthropic.dump(), kCreated);
    EXPECT_TRUE(result.ok()) << result.error;
    return parse(result.body);
}

Json toAnthropic(const Json& openai) {
    auto result = openAiToAnthropicResponse(openai.dump());
    EXPECT_TRUE(result.ok()) << result.error;
    return parse(result.body);
}

Json anthropicMessage(std::string_view stop_reason) {
    return Json{{"id", "msg_1"},
                {"type", "message"},
                {"role", "assistant"},
                {"model", "claude"},
                {"content", {{{"type", "text"}, {"text", "hi"}}}},
                {"stop_reason", stop_reason},
                {"usage", {{"input_tokens", 3}, {"output_tokens", 4}}}};
}

Json openAiCompletion(std::string_view finish_reason) {
    return Json{{"id", "chatcmpl-1"},
                {"object", "chat.completion"},
                {"created", 1},
                {"model", "gpt"},
                {"choices",
                 {{{"index", 0},
                   {"message", {{"role", "assistant"}, {"content", "hi"}}},
                   {"finish_reason", finish_reason}}}},
                {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 4}, {"total_tokens", 7}}}};
}

TEST(AnthropicResponseTest, AnthropicMessageMatchesGolden) {
    EXPECT_EQ(toOpenAi(readGoldenJson("anthropic/anthropic_response.json")),
              readGoldenJson("anthropic/anthropic_response.to_openai.json"));
}

TEST(AnthropicResponseTest, OpenAiCompletionMatchesGolden) {
    EXPECT_EQ(toAnthropic(readGoldenJson("anthropic/openai_response.json")),
              readGoldenJson("anthropic/openai_response.to_anthropic.json"));
}

TEST(AnthropicResponseTest, PlainTextAnswerWithoutCacheFields) {
    Json out = toOpenAi(anthropicMessage("end_turn"));
    EXPECT_EQ(out["choices"][0]["message"], Json::parse(R"({"role":"assistant","content":"hi"})"));
    EXPECT_EQ(out["usage"],
              Json::parse(R"({"prompt_tokens":3,"completion_tokens":4,"total_tokens":7})"));

    Json back = toAnthropic(openAiCompletion("stop"));
    EXPECT_EQ(back["content"], Json::parse(R"([{"type":"text","text":"hi"}])"));
    EXPECT_EQ(back["usage"], Json::parse(R"({"input_tokens":3,"output_tokens":4})"));
}

TEST(AnthropicResponseTest, StopReasonsMapBothWays) {
    const std::vector<std::pair<const char*, const char*>> kToOpenAi = {
        {"end_turn", "stop"},     {"stop_sequence", "stop"},  {"pause_turn", "stop"},
        {"max_tokens", "length"}, {"tool_use", "tool_calls"}, {"refusal", "content_filter"}};
    for (const auto& [anthropic, openai] : kToOpenAi) {
        EXPECT_EQ(toOpenAi(anthropicMessage(anthropic))["choices"][0]["finish_reason"], openai)
            << anthropic;
    }
    const std::vector<std::pair<const char*, const char*>> kToAnthropic = {
        {"stop", "end_turn"},
        {"length", "max_tokens"},
        {"tool_calls", "tool_use"},
        {"function_call", "tool_use"},
        {"content_filter", "refusal"}};
    for (const auto& [openai, anthropic] : kToAnthropic) {
        EXPECT_EQ(toAnthropic(openAiCompletion(openai))["stop_reason"], anthropic) << openai;
    }
}

TEST(AnthropicResponseTest, AStopSequenceNamedByTheUpstreamReachesAnthropicClients) {
    Json completion = openAiCompletion("stop");
    completion["choices"][0]["stop_reason"] = "###";  // vLLM names the matched stop string
    Json message = toAnthropic(completion);
    EXPECT_EQ(message["stop_reason"], "stop_sequence");
    EXPECT_EQ(message["stop_sequence"], "###");
    // From OpenAI itself a stop sequence cannot be told from a natural end.
    Json plain = toAnthropic(openAiCompletion("stop"));
    EXPECT_EQ(plain["stop_reason"], "end_turn");
    EXPECT_TRUE(plain["stop_sequence"].is_null());
}

TEST(AnthropicResponseTest, ToolOnlyAnswerHasNullContentForOpenAiClients) {
    Json message = anthropicMessage("tool_use");
    message["content"] = Json::parse(R"([{"type":"tool_use","id":"t","name":"f","input":{}}])");
    Json out = toOpenAi(message)["choices"][0]["message"];
    EXPECT_TRUE(out["content"].is_null());
    EXPECT_EQ(out["tool_calls"][0]["function"]["arguments"], "{}");
}

TEST(AnthropicResponseTest, ThinkingBecomesReasoningContent) {
    Json message = anthropicMessage("end_turn");
    message["content"].insert(message["content"].begin(),
                              Json{{"type", "thinking"}, {"thinking", "Hmm."}, {"signature", "s"}});
    EXPECT_EQ(toOpenAi(message)["choices"][0]["message"]["reasoning_content"], "Hmm.");
}

TEST(AnthropicResponseTest, UntranslatableUpstreamBodiesAreErrors) {
    EXPECT_FALSE(anthropicToOpenAiResponse("<html>", kCreated).ok());
    EXPECT_FALSE(anthropicToOpenAiResponse(R"({"id":"x"})", kCreated).ok());
    EXPECT_FALSE(openAiToAnthropicResponse(R"({"choices":[]})").ok());
    Json bad_arguments = openAiCompletion("tool_calls");
    bad_arguments["choices"][0]["message"]["tool_calls"] =
        Json::parse(R"([{"id":"c","type":"function","function":{"name":"f","arguments":"{"}}])");
    EXPECT_EQ(openAiToAnthropicResponse(bad_arguments.dump()).error,
              "the upstream's tool call arguments are not a JSON object");
}

TEST(AnthropicResponseTest, TranslateResponseBodyFollowsTheDirection) {
    std::string anthropic = anthropicMessage("end_turn").dump();
    EXPECT_EQ(parse(translateResponseBody(Translation::OpenAiToAnthropic, anthropic, kCreated)
                        .body)["object"],
              "chat.completion");
    std::string openai = openAiCompletion("stop").dump();
    EXPECT_EQ(
        parse(translateResponseBody(Translation::AnthropicToOpenAi, openai, kCreated).body)["type"],
        "message");
    EXPECT_EQ(translateResponseBody(Translation::None, "as is", kCreated).body, "as is");
}

TEST(AnthropicErrorTest, AnthropicErrorsBecomeOpenAiErrors) {
    std::string body =
        R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})";
    EXPECT_EQ(parse(anthropicErrorToOpenAi(429, body)), Json::parse(R"({"error":{
        "message":"Number of request tokens has exceeded your per-minute rate limit",
        "type":"rate_limit_error","code":"rate_limit_error"}})"));
    body = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})";
    EXPECT_EQ(parse(anthropicErrorToOpenAi(529, body)), Json::parse(R"({"error":{
        "message":"Overloaded","type":"server_error","code":"overloaded_error"}})"));
}

TEST(AnthropicErrorTest, OpenAiErrorsBecomeAnthropicErrorsTypedByStatus) {
    std::string body =
        R"({"error":{"message":"Incorrect API key provided: sk-abc.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})";
    EXPECT_EQ(parse(openAiErrorToAnthropic(401, body)), Json::parse(R"({"type":"error","error":{
        "type":"authentication_error","message":"Incorrect API key provided: sk-abc."}})"));
    const std::vector<std::pair<unsigned, const char*>> kTypes = {{400, "invalid_request_error"},
                                                                  {403, "permission_error"},
                                                                  {404, "not_found_error"},
                                                                  {413, "request_too_large"},
                                                                  {422, "invalid_request_error"},
                                                                  {429, "rate_limit_error"},
                                                                  {500, "api_error"},
                                                                  {503, "overloaded_error"},
                                                                  {529, "overloaded_error"}};
    for (const auto& [status, type] : kTypes) {
        EXPECT_EQ(parse(openAiErrorToAnthropic(status, body))["error"]["type"], type) << status;
    }
}

TEST(AnthropicErrorTest, BodiesThatAreNotErrorsStillGiveAMessage) {
    EXPECT_EQ(parse(anthropicErrorToOpenAi(502, "<html>Bad Gateway</html>")),
              Json::parse(R"({"error":{"message":"<html>Bad Gateway</html>",
                  "type":"server_error","code":"upstream_error"}})"));
    EXPECT_EQ(parse(openAiErrorToAnthropic(500, "")),
              Json::parse(R"({"type":"error","error":{"type":"api_error",
                  "message":"upstream answered 500"}})"));
    std::string long_body(2000, 'x');
    auto message = parse(anthropicErrorToOpenAi(500, long_body))["error"]["message"];
    EXPECT_EQ(message.get<std::string>().size(), 515u);  // 512 bytes and "..."
}

TEST(AnthropicErrorTest, GatewayErrorsForAnthropicClients) {
    EXPECT_EQ(parse(anthropicErrorBody(504, "upstream timed out")),
              Json::parse(R"({"type":"error","error":{"type":"api_error",
                  "message":"upstream timed out"}})"));
    EXPECT_EQ(translateErrorBody(Translation::None, 500, "raw"), "raw");
    EXPECT_EQ(parse(translateErrorBody(Translation::AnthropicToOpenAi, 404, "{}"))["error"]["type"],
              "not_found_error");
}

}  // namespace
}  // namespace aiproxy::ai
