// The LLM a stage asks itself (ai-request-rewrite's): its request as each provider takes it,
// shaped from the plugin's config as the loader reads it, and the answer's text in both shapes.

#include "aiproxy/ai/side_llm.hpp"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::ai {
namespace {

using Json = nlohmann::json;

// The `llm` of a route's ai-request-rewrite, read by the real loader from `plugin` (YAML flow).
config::UpstreamConfig rewriteLlm(const std::string& plugin) {
    std::string yaml =
        "server: {listen: [\"127.0.0.1:0\"]}\n"
        "upstreams:\n  - {id: backend, nodes: {\"127.0.0.1:9\": 1}}\n"
        "routes:\n  - id: r\n    uri: /llm/*\n    plugins:\n"
        "      ai-proxy: {upstream_id: backend}\n"
        "      ai-request-rewrite: " +
        plugin + "\n";
    auto loaded = config::parseConfig(yaml, config::Format::Yaml,
                                      [](const std::string&) { return std::nullopt; });
    EXPECT_TRUE(loaded.errors.empty()) << loaded.errors.front().toString();
    if (!loaded.config) return {};
    return loaded.config->routes.front().ai_request_rewrite.value().llm;
}

struct Parsed {
    std::string request_line;
    std::vector<std::pair<std::string, std::string>> fields;
    Json body;

    std::string field(std::string_view name) const {
        for (const auto& [key, value] : fields) {
            if (key == name) return value;
        }
        return "<absent>";
    }
};

Parsed parse(const SideRequest& request) {
    Parsed out;
    EXPECT_TRUE(request.error.empty()) << request.error;
    EXPECT_TRUE(request.head.ends_with("\r\n\r\n"));
    std::string_view head = request.head;
    auto line_end = head.find("\r\n");
    out.request_line = std::string(head.substr(0, line_end));
    head.remove_prefix(line_end + 2);
    while (head.size() > 2) {
        auto end = head.find("\r\n");
        auto line = head.substr(0, end);
        auto colon = line.find(": ");
        out.fields.emplace_back(std::string(line.substr(0, colon)),
                                std::string(line.substr(colon + 2)));
        head.remove_prefix(end + 2);
    }
    out.body = Json::parse(request.body, nullptr, false);
    EXPECT_EQ(out.field("Content-Length"), std::to_string(request.body.size()));
    return out;
}

const std::string kQuestion =
    R"({"messages":[{"role":"system","content":"Mask card numbers."},)"
    R"({"role":"user","content":"{\"card\":\"4111 1111 1111 1111\"}"}],"stream":false})";

TEST(SideLlmTest, AnOpenAiCompatibleLlmGetsTheQuestionWithItsOptionsAndAuth) {
    auto llm = rewriteLlm(
        R"({prompt: "Mask card numbers.", provider: openai-compatible,
            auth: {header: {Authorization: "Bearer rewrite-key"}, query: {api_key: k1}},
            options: {model: gpt-4, temperature: 0},
            override: {endpoint: "http://127.0.0.1:8080/v1/chat/completions"}})");
    auto request = parse(sideRequest(llm, "127.0.0.1:8080", kQuestion, "req-1"));
    EXPECT_EQ(request.request_line, "POST /v1/chat/completions?api_key=k1 HTTP/1.1");
    EXPECT_EQ(request.field("Host"), "127.0.0.1:8080");
    EXPECT_EQ(request.field("Authorization"), "Bearer rewrite-key");
    EXPECT_EQ(request.field("Content-Type"), "application/json");
    EXPECT_EQ(request.field("Accept-Encoding"), "identity");
    EXPECT_EQ(request.field("X-Request-Id"), "req-1");
    Json expected = Json::parse(kQuestion);
    expected["model"] = "gpt-4";
    expected["temperature"] = 0;
    EXPECT_EQ(request.body, expected);
}

TEST(SideLlmTest, WithoutOptionsTheQuestionGoesAsItIs) {
    auto llm = rewriteLlm(
        R"({prompt: p, provider: openai-compatible, auth: {header: {Authorization: "Bearer k"}},
            override: {endpoint: "http://llm.internal:8000"}})");
    auto request = sideRequest(llm, "llm.internal:8000", kQuestion, "req-2");
    EXPECT_EQ(request.body, kQuestion);
    EXPECT_TRUE(request.head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n")) << request.head;
}

TEST(SideLlmTest, AnAnthropicLlmGetsAMessagesRequestWithThePromptAsItsSystem) {
    auto llm = rewriteLlm(
        R"({prompt: "Mask card numbers.", provider: anthropic, auth: {header: {x-api-key: ak}},
            options: {model: claude-sonnet-4-5}})");
    auto request = parse(sideRequest(llm, "api.anthropic.com", kQuestion, "req-3"));
    EXPECT_EQ(request.request_line, "POST /v1/messages HTTP/1.1");
    EXPECT_EQ(request.field("x-api-key"), "ak");
    EXPECT_NE(request.field("anthropic-version"), "<absent>");
    EXPECT_EQ(request.body["model"], "claude-sonnet-4-5");
    EXPECT_EQ(request.body["system"], "Mask card numbers.");
    ASSERT_EQ(request.body["messages"].size(), 1U);
    EXPECT_EQ(request.body["messages"][0]["role"], "user");
    EXPECT_EQ(request.body["messages"][0]["content"], R"({"card":"4111 1111 1111 1111"})");
    EXPECT_TRUE(request.body.contains("max_tokens"));  // Anthropic requires it
}

TEST(SideLlmTest, ReadsTheTextOfAnOpenAiAnswer) {
    auto text = answerText(config::WireFormat::OpenAi,
                           R"({"id":"c1","choices":[{"index":0,"message":{"role":"assistant",
                               "content":"{\"card\":\"**** 1111\"}"},"finish_reason":"stop"}]})");
    EXPECT_EQ(text.text, R"({"card":"**** 1111"})");
    EXPECT_TRUE(text.error.empty());
}

TEST(SideLlmTest, ReadsTheFirstTextBlockOfAnAnthropicAnswer) {
    auto text = answerText(config::WireFormat::Anthropic,
                           R"({"type":"message","role":"assistant","content":[
                               {"type":"thinking","thinking":"hmm"},
                               {"type":"text","text":"masked"},{"type":"text","text":"more"}]})");
    EXPECT_EQ(text.text, "masked");
}

TEST(SideLlmTest, AnAnswerWithoutTextSaysWhy) {
    auto openai = config::WireFormat::OpenAi;
    EXPECT_EQ(answerText(openai, "<html>busy</html>").error, "the LLM's answer is not JSON");
    EXPECT_EQ(answerText(openai, R"({"choices":[]})").error, "the LLM's answer has no text");
    EXPECT_EQ(answerText(openai, R"({"choices":[{"message":{"content":null}}]})").error,
              "the LLM's answer has no text");
    EXPECT_EQ(answerText(openai, R"({"choices":[{"message":{"content":""}}]})").error,
              "the LLM's answer has no text");
    EXPECT_FALSE(answerText(openai, R"([1,2])").text);
    // An OpenAI-shaped answer from an Anthropic provider is not read as one.
    EXPECT_FALSE(
        answerText(config::WireFormat::Anthropic, R"({"choices":[{"message":{"content":"x"}}]})")
            .text);
    EXPECT_FALSE(answerText(config::WireFormat::Anthropic, R"({"content":"x"})").text);
}

}  // namespace
}  // namespace aiproxy::ai
