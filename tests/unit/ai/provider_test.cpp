#include "aiproxy/ai/provider.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiproxy/config/provider_defaults.hpp"

namespace aiproxy::ai {
namespace {

using Json = nlohmann::json;
using config::StringPairs;

// An upstream as the loader builds it: the provider's defaults where the file is silent.
config::UpstreamConfig upstreamFor(std::string_view provider_name) {
    const config::ProviderDefaults* provider = config::findProvider(provider_name);
    EXPECT_NE(provider, nullptr) << provider_name;
    config::UpstreamConfig upstream;
    upstream.id = "u";
    upstream.provider = provider_name;
    upstream.base_path = provider->base_path;
    return upstream;
}

config::UpstreamConfig withKey(config::UpstreamConfig upstream, std::string_view key) {
    upstream.auth.header.push_back(
        config::apiKeyHeader(*config::findProvider(upstream.provider), key));
    upstream.pass_client_auth = false;
    return upstream;
}

const std::string kChat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
const std::string kStreamChat =
    R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]})";
const std::string kMessages =
    R"({"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})";

RequestFacts chat(std::string_view body = kChat, std::string_view query = "") {
    return {.api = ClientApi::OpenAiChat, .rest = "chat/completions", .query = query, .body = body};
}

RequestFacts messages(std::string_view body = kMessages) {
    return {.api = ClientApi::AnthropicMessages, .rest = "v1/messages", .body = body};
}

UpstreamRequestPlan shape(const config::UpstreamConfig& upstream, const RequestFacts& request) {
    ShapeResult result = shapeRequest(upstream, request);
    EXPECT_TRUE(result.ok()) << result.error->message;
    return result.plan;
}

Json bodyOf(const UpstreamRequestPlan& plan) {
    EXPECT_TRUE(plan.body.has_value()) << "the body was expected to change";
    return Json::parse(plan.body.value_or(""), nullptr, false);
}

TEST(ProviderTest, ClassifiesTheClientApi) {
    EXPECT_EQ(classifyClientApi("chat/completions"), ClientApi::OpenAiChat);
    EXPECT_EQ(classifyClientApi("/v1/chat/completions"), ClientApi::OpenAiChat);
    EXPECT_EQ(classifyClientApi("v1/messages"), ClientApi::AnthropicMessages);
    EXPECT_EQ(classifyClientApi("messages"), ClientApi::AnthropicMessages);
    EXPECT_EQ(classifyClientApi("v1/messages/count_tokens"), ClientApi::OpenAiOther);
    EXPECT_EQ(classifyClientApi("embeddings"), ClientApi::OpenAiOther);
    EXPECT_EQ(classifyClientApi("threads/t1/messages"), ClientApi::OpenAiOther);
    EXPECT_EQ(classifyClientApi(""), ClientApi::OpenAiOther);
}

// Every OpenAI-wire provider: same path below its base path, its key style, body untouched.
TEST(ProviderTest, EveryOpenAiStyleProviderShapesUrlHeadersAndBody) {
    const std::vector<std::pair<const char*, const char*>> kTargets = {
        {"openai", "/v1/chat/completions"},
        {"deepseek", "/v1/chat/completions"},
        {"gemini", "/v1beta/openai/chat/completions"},
        {"mistral", "/v1/chat/completions"},
        {"openrouter", "/api/v1/chat/completions"},
        {"ollama", "/v1/chat/completions"},
        {"vllm", "/v1/chat/completions"},
        {"openai-compatible", "/v1/chat/completions"},
    };
    for (const auto& [name, target] : kTargets) {
        auto plan = shape(withKey(upstreamFor(name), "sk-up"), chat(kChat, "trace=1"));
        EXPECT_EQ(plan.target, std::string(target) + "?trace=1") << name;
        EXPECT_EQ(plan.set_headers, (StringPairs{{"Authorization", "Bearer sk-up"}})) << name;
        EXPECT_TRUE(plan.default_headers.empty()) << name;
        EXPECT_EQ(plan.drop_headers,
                  (std::vector<std::string>{"authorization", "api-key", "x-api-key"}))
            << name;
        EXPECT_FALSE(plan.body.has_value()) << name;
        EXPECT_EQ(plan.translation, Translation::None) << name;
        EXPECT_EQ(plan.client_model, "gpt-4o") << name;
        EXPECT_EQ(plan.upstream_model, "gpt-4o") << name;
    }
}

TEST(ProviderTest, ClientKeysPassWhenTheUpstreamHasNoCredentials) {
    auto plan = shape(upstreamFor("vllm"), chat());
    EXPECT_TRUE(plan.set_headers.empty());
    EXPECT_TRUE(plan.drop_headers.empty());
}

TEST(ProviderTest, AzureUsesDeploymentPathsApiVersionAndApiKey) {
    auto upstream = withKey(upstreamFor("azure-openai"), "az-key");
    upstream.model_map = {{"gpt-4o", "gpt-4o-prod"}};
    auto plan = shape(upstream, chat());
    EXPECT_EQ(plan.target,
              "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21");
    EXPECT_EQ(plan.set_headers, (StringPairs{{"api-key", "az-key"}}));
    EXPECT_EQ(bodyOf(plan), Json::parse(R"({"messages":[{"role":"user","content":"hi"}]})"));
    EXPECT_EQ(plan.client_model, "gpt-4o");
    EXPECT_EQ(plan.upstream_model, "gpt-4o-prod");

    upstream.api_version = "2025-01-01-preview";
    plan = shape(upstream, chat(kChat, "api-version=2024-06-01"));
    EXPECT_EQ(plan.target,
              "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-06-01")
        << "the client's own api-version is kept";
    plan = shape(upstream, {.api = ClientApi::OpenAiOther, .rest = "models"});
    EXPECT_EQ(plan.target, "/openai/models?api-version=2025-01-01-preview");
    plan = shape(upstream, {.api = ClientApi::OpenAiOther,
                            .rest = "embeddings",
                            .body = R"({"model":"text embed 3","input":"x"})"});
    EXPECT_EQ(plan.target,
              "/openai/deployments/text%20embed%203/embeddings?api-version=2025-01-01-preview");
}

TEST(ProviderTest, AnthropicUpstreamTranslatesOpenAiChat) {
    auto plan = shape(withKey(upstreamFor("anthropic"), "sk-ant"), chat());
    EXPECT_EQ(plan.target, "/v1/messages");
    EXPECT_EQ(plan.translation, Translation::OpenAiToAnthropic);
    EXPECT_EQ(plan.set_headers,
              (StringPairs{{"x-api-key", "sk-ant"}, {"Accept-Encoding", "identity"}}));
    EXPECT_EQ(plan.default_headers, (StringPairs{{"anthropic-version", "2023-06-01"}}));
    EXPECT_EQ(bodyOf(plan), Json::parse(R"({"model":"gpt-4o","max_tokens":4096,
        "messages":[{"role":"user","content":"hi"}]})"));
}

// The Responses API: model_map applies to it like to chat, and an Anthropic upstream gets it
// translated to /v1/messages.
TEST(ProviderTest, ResponsesRequestsAreMappedAndTranslatedForAnthropic) {
    EXPECT_EQ(classifyClientApi("v1/responses"), ClientApi::OpenAiResponses);
    EXPECT_EQ(classifyClientApi("responses/resp_1"), ClientApi::OpenAiOther);
    std::string body = R"({"model":"fast","input":"hi","max_output_tokens":50})";
    RequestFacts facts{.api = ClientApi::OpenAiResponses, .rest = "v1/responses", .body = body};
    auto openai = upstreamFor("openai");
    openai.model_map = {{"fast", "gpt-4.1-mini"}};
    auto plan = shape(openai, facts);
    EXPECT_EQ(plan.target, "/v1/responses");
    EXPECT_EQ(plan.translation, Translation::None);
    EXPECT_EQ(plan.upstream_api, ClientApi::OpenAiResponses);
    EXPECT_EQ(bodyOf(plan),
              Json::parse(R"({"model":"gpt-4.1-mini","input":"hi","max_output_tokens":50})"));

    auto claude = withKey(upstreamFor("anthropic"), "sk-ant");
    claude.model_map = {{"fast", "claude-haiku-4-5"}};
    plan = shape(claude, facts);
    EXPECT_EQ(plan.target, "/v1/messages");
    EXPECT_EQ(plan.translation, Translation::ResponsesToAnthropic);
    EXPECT_EQ(plan.upstream_api, ClientApi::AnthropicMessages);
    EXPECT_EQ(plan.client_model, "fast");
    EXPECT_EQ(plan.upstream_model, "claude-haiku-4-5");
    EXPECT_EQ(bodyOf(plan), Json::parse(R"({"model":"claude-haiku-4-5","max_tokens":50,
        "messages":[{"role":"user","content":"hi"}]})"));
    auto refused = shapeRequest(claude, {.api = ClientApi::OpenAiResponses,
                                         .rest = "responses",
                                         .body = R"({"model":"m","input":"x","tools":[{}]})"});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error->code, "untranslatable_request");
}

TEST(ProviderTest, NativeAnthropicClientIsForwardedAsIs) {
    auto plan = shape(withKey(upstreamFor("anthropic"), "sk-ant"), messages());
    EXPECT_EQ(plan.target, "/v1/messages") << "the client's v1/ is not doubled";
    EXPECT_EQ(plan.translation, Translation::None);
    EXPECT_FALSE(plan.body.has_value());
    EXPECT_EQ(plan.set_headers, (StringPairs{{"x-api-key", "sk-ant"}}));
    EXPECT_EQ(plan.default_headers, (StringPairs{{"anthropic-version", "2023-06-01"}}));
}

TEST(ProviderTest, ConfiguredVersionHeaderReplacesTheDefault) {
    auto upstream = withKey(upstreamFor("anthropic"), "sk-ant");
    upstream.auth.header.emplace_back("Anthropic-Version", "2024-01-01");
    auto plan = shape(upstream, messages());
    EXPECT_TRUE(plan.default_headers.empty());
}

TEST(ProviderTest, AnthropicClientOnOpenAiUpstreamIsTranslated) {
    std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,
        "messages":[{"role":"user","content":"hi"}]})";
    auto upstream = withKey(upstreamFor("openai"), "sk-up");
    upstream.model_map = {{"claude-sonnet-4-5", "gpt-4o"}};
    auto plan = shape(upstream, messages(body));
    EXPECT_EQ(plan.target, "/v1/chat/completions");
    EXPECT_EQ(plan.translation, Translation::AnthropicToOpenAi);
    EXPECT_EQ(bodyOf(plan), Json::parse(R"({"model":"gpt-4o","max_tokens":100,"stream":true,
        "stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})"));
    EXPECT_EQ(plan.upstream_model, "gpt-4o");
    EXPECT_EQ(plan.drop_headers, (std::vector<std::string>{"authorization", "api-key", "x-api-key",
                                                           "anthropic-version", "anthropic-beta"}));
}

TEST(ProviderTest, ModelMapRenamesTheModel) {
    auto upstream = upstreamFor("vllm");
    upstream.model_map = {{"gpt-4o", "llama-3.1-70b-instruct"}};
    auto plan = shape(upstream, chat());
    EXPECT_EQ(bodyOf(plan)["model"], "llama-3.1-70b-instruct");
    EXPECT_EQ(plan.client_model, "gpt-4o");
    EXPECT_EQ(plan.upstream_model, "llama-3.1-70b-instruct");

    upstream.model_map = {{"gpt-4o-mini", "small"}};
    plan = shape(upstream, chat());
    EXPECT_FALSE(plan.body.has_value()) << "an unmapped model leaves the body alone";
    EXPECT_EQ(plan.upstream_model, "gpt-4o");

    upstream.model_map = {{"gpt-4o-mini", "small"}, {"*", "default-local"}};
    EXPECT_EQ(bodyOf(shape(upstream, chat()))["model"], "default-local");
}

TEST(ProviderTest, OptionsOverwriteFieldsAndWinOverModelMap) {
    auto upstream = upstreamFor("openai-compatible");
    upstream.model_map = {{"gpt-4o", "mapped"}};
    upstream.options = {{"model", R"("from-options")"},
                        {"temperature", "0.2"},
                        {"response_format", R"({"type":"json_object"})"},
                        {"user", "null"},
                        {"service_tier", "flex"}};
    std::string body = R"({"model":"gpt-4o","user":"u1","messages":[]})";
    auto plan = shape(upstream, chat(body));
    EXPECT_EQ(bodyOf(plan), Json::parse(R"({"model":"from-options","temperature":0.2,
        "response_format":{"type":"json_object"},"service_tier":"flex","messages":[]})"));
    EXPECT_EQ(plan.upstream_model, "from-options");
    EXPECT_EQ(plan.client_model, "gpt-4o");
}

TEST(ProviderTest, OptionsApplyInTheUpstreamsFormat) {
    auto upstream = upstreamFor("anthropic");
    upstream.options = {{"max_tokens", "256"}, {"top_k", "5"}};
    Json body = bodyOf(shape(upstream, chat()));
    EXPECT_EQ(body["max_tokens"], 256);
    EXPECT_EQ(body["top_k"], 5);
}

TEST(ProviderTest, UpstreamApiSaysWhereStreamUsageIsTheRelaysJob) {
    EXPECT_EQ(shape(upstreamFor("openai"), chat()).upstream_api, ClientApi::OpenAiChat);
    EXPECT_EQ(shape(upstreamFor("openai"), messages()).upstream_api, ClientApi::OpenAiChat);
    EXPECT_EQ(shape(upstreamFor("anthropic"), chat()).upstream_api, ClientApi::AnthropicMessages);
    EXPECT_EQ(shape(upstreamFor("openai"), {.api = ClientApi::OpenAiOther, .rest = "models"})
                  .upstream_api,
              ClientApi::OpenAiOther);
}

TEST(ProviderTest, TranslatedStreamReportsTheClientsUsageWish) {
    std::string body = R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
        "messages":[{"role":"user","content":"hi"}]})";
    auto plan = shape(upstreamFor("anthropic"), chat(body));
    EXPECT_TRUE(plan.client_include_usage);
    EXPECT_FALSE(bodyOf(plan).contains("stream_options"));
    EXPECT_FALSE(shape(upstreamFor("anthropic"), chat(kStreamChat)).client_include_usage);
}

TEST(ProviderTest, AuthQueryReplacesTheClientsParameter) {
    auto upstream = upstreamFor("openai-compatible");
    upstream.auth.query = {{"key", "s3cret/+"}};
    upstream.pass_client_auth = false;
    auto plan = shape(upstream, chat(kChat, "key=client&alt=sse&keyring=1"));
    EXPECT_EQ(plan.target, "/v1/chat/completions?alt=sse&keyring=1&key=s3cret%2F%2B");
}

TEST(ProviderTest, OtherEndpointsKeepTheirPath) {
    auto plan = shape(upstreamFor("openai"), {.api = ClientApi::OpenAiOther, .rest = "/models"});
    EXPECT_EQ(plan.target, "/v1/models");
    plan = shape(upstreamFor("anthropic"),
                 {.api = ClientApi::OpenAiOther, .rest = "v1/messages/count_tokens", .body = "{}"});
    EXPECT_EQ(plan.target, "/v1/messages/count_tokens") << "the client's v1/ is not doubled";
    EXPECT_EQ(plan.translation, Translation::None);
}

TEST(ProviderTest, UnknownProviderBehavesAsOpenAiCompatible) {
    config::UpstreamConfig upstream;
    upstream.provider = "acme";
    auto plan = shape(upstream, chat());
    EXPECT_EQ(plan.target, "/v1/chat/completions");
    EXPECT_FALSE(plan.body.has_value());
}

TEST(ProviderTest, BodiesThatAreNotJson) {
    auto upstream = upstreamFor("openai");
    upstream.options = {{"model", R"("x")"}};
    auto plan = shape(upstream, {.api = ClientApi::OpenAiOther,
                                 .rest = "audio/transcriptions",
                                 .body = "--boundary\r\nContent-Disposition: form-data"});
    EXPECT_FALSE(plan.body.has_value()) << "multipart bodies are forwarded untouched";

    auto result = shapeRequest(upstreamFor("anthropic"), chat("{oops"));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error->status, 400u);
    EXPECT_EQ(result.error->code, "invalid_json");
    // The parser's own words, so the client can find the mistake.
    EXPECT_EQ(result.error->message,
              "the request body is not valid JSON: parse error at line 1, column 2: syntax error "
              "while parsing object key - invalid literal; last read: '{o'; expected string "
              "literal");
    EXPECT_EQ(shapeRequest(upstreamFor("anthropic"), chat("[1]")).error->message,
              "the request body is not a JSON object");
}

TEST(ProviderTest, AnAlreadyParsedBodyIsUsedInsteadOfParsingAgain) {
    nlohmann::json parsed = {{"model", "gpt-4o"}, {"messages", nlohmann::json::array()}};
    auto upstream = upstreamFor("openai");
    upstream.model_map = {{"gpt-4o", "mapped"}};
    int calls = 0;
    RequestFacts facts{.api = ClientApi::OpenAiChat,
                       .rest = "chat/completions",
                       .body = "not what was parsed",
                       .parsed = [&] {
                           ++calls;
                           return &parsed;
                       }};
    auto result = shapeRequest(upstream, facts);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(calls, 1);
    ASSERT_TRUE(result.plan.body);
    EXPECT_EQ(nlohmann::json::parse(*result.plan.body)["model"], "mapped");
}

TEST(ProviderTest, UntranslatableRequestIsAClientError) {
    auto result =
        shapeRequest(upstreamFor("anthropic"), chat(R"({"model":"gpt-4o","n":3,"messages":[]})"));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error->status, 400u);
    EXPECT_EQ(result.error->code, "untranslatable_request");
    EXPECT_EQ(result.error->message, "n: an Anthropic upstream returns one choice");
}

}  // namespace
}  // namespace aiproxy::ai
