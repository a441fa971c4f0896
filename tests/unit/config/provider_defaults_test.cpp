#include "aiproxy/config/provider_defaults.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace aiproxy::config {
namespace {

struct Expected {
    std::string_view name;
    std::string_view host;
    std::uint16_t port;
    Scheme scheme;
    std::string_view base_path;
    KeyStyle key_style;
    WireFormat wire_format;
};

TEST(ProviderDefaultsTest, EveryProviderHasItsDocumentedEndpoint) {
    const std::vector<Expected> kProviders = {
        {"openai", "api.openai.com", 443, Scheme::Https, "/v1", KeyStyle::Bearer,
         WireFormat::OpenAi},
        {"azure-openai", "", 443, Scheme::Https, "/openai", KeyStyle::ApiKey, WireFormat::OpenAi},
        {"anthropic", "api.anthropic.com", 443, Scheme::Https, "/v1", KeyStyle::XApiKey,
         WireFormat::Anthropic},
        {"deepseek", "api.deepseek.com", 443, Scheme::Https, "/v1", KeyStyle::Bearer,
         WireFormat::OpenAi},
        {"gemini", "generativelanguage.googleapis.com", 443, Scheme::Https, "/v1beta/openai",
         KeyStyle::Bearer, WireFormat::OpenAi},
        {"mistral", "api.mistral.ai", 443, Scheme::Https, "/v1", KeyStyle::Bearer,
         WireFormat::OpenAi},
        {"openrouter", "openrouter.ai", 443, Scheme::Https, "/api/v1", KeyStyle::Bearer,
         WireFormat::OpenAi},
        {"ollama", "127.0.0.1", 11434, Scheme::Http, "/v1", KeyStyle::Bearer, WireFormat::OpenAi},
        {"vllm", "127.0.0.1", 8000, Scheme::Http, "/v1", KeyStyle::Bearer, WireFormat::OpenAi},
        {"openai-compatible", "", 0, Scheme::Http, "/v1", KeyStyle::Bearer, WireFormat::OpenAi},
    };
    ASSERT_EQ(allProviders().size(), kProviders.size());
    for (const Expected& want : kProviders) {
        const ProviderDefaults* got = findProvider(want.name);
        ASSERT_NE(got, nullptr) << want.name;
        EXPECT_EQ(got->name, want.name);
        EXPECT_EQ(got->host, want.host) << want.name;
        EXPECT_EQ(got->port, want.port) << want.name;
        EXPECT_EQ(got->scheme, want.scheme) << want.name;
        EXPECT_EQ(got->base_path, want.base_path) << want.name;
        EXPECT_EQ(got->key_style, want.key_style) << want.name;
        EXPECT_EQ(got->wire_format, want.wire_format) << want.name;
        EXPECT_EQ(got->deployment_paths, want.name == "azure-openai") << want.name;
        EXPECT_EQ(got->fixed_headers.empty(), want.name != "anthropic") << want.name;
    }
}

TEST(ProviderDefaultsTest, AnthropicAlwaysSendsItsVersionHeader) {
    const ProviderDefaults* anthropic = findProvider("anthropic");
    ASSERT_EQ(anthropic->fixed_headers.size(), 1u);
    EXPECT_EQ(anthropic->fixed_headers[0].name, "anthropic-version");
    EXPECT_EQ(anthropic->fixed_headers[0].value, "2023-06-01");
}

TEST(ProviderDefaultsTest, AzureHasADefaultApiVersion) {
    EXPECT_EQ(findProvider("azure-openai")->api_version, "2024-10-21");
    EXPECT_EQ(findProvider("openai")->api_version, "");
}

TEST(ProviderDefaultsTest, UnknownNamesAreNotFound) {
    EXPECT_EQ(findProvider("OpenAI"), nullptr);
    EXPECT_EQ(findProvider("claude"), nullptr);
    EXPECT_EQ(findProvider(""), nullptr);
}

TEST(ProviderDefaultsTest, NameListForErrorMessages) {
    EXPECT_EQ(providerNameList(),
              "openai, azure-openai, anthropic, deepseek, gemini, mistral, openrouter, ollama, "
              "vllm, openai-compatible");
}

TEST(ProviderDefaultsTest, KeyHeaderFollowsTheProvidersStyle) {
    using Header = std::pair<std::string, std::string>;
    EXPECT_EQ(apiKeyHeader(*findProvider("openai"), "sk-1"),
              Header("Authorization", "Bearer sk-1"));
    EXPECT_EQ(apiKeyHeader(*findProvider("azure-openai"), "az"), Header("api-key", "az"));
    EXPECT_EQ(apiKeyHeader(*findProvider("anthropic"), "sk-ant"), Header("x-api-key", "sk-ant"));
}

}  // namespace
}  // namespace aiproxy::config
