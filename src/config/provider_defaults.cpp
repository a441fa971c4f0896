#include "aiproxy/config/provider_defaults.hpp"

#include <array>

namespace aiproxy::config {
namespace {

// Anthropic rejects requests without a version header; 2023-06-01 is the documented current one.
constexpr std::array<FixedHeader, 1> kAnthropicHeaders{{{"anthropic-version", "2023-06-01"}}};

constexpr std::array<ProviderDefaults, 10> kProviders{{
    {.name = "openai",
     .host = "api.openai.com",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/v1"},
    // Per-resource host ({resource}.openai.azure.com): the upstream must name its nodes.
    // 2024-10-21 is the latest GA data-plane inference version of the REST reference.
    {.name = "azure-openai",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/openai",
     .key_style = KeyStyle::ApiKey,
     .deployment_paths = true,
     .api_version = "2024-10-21"},
    {.name = "anthropic",
     .host = "api.anthropic.com",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/v1",
     .key_style = KeyStyle::XApiKey,
     .fixed_headers = kAnthropicHeaders,
     .wire_format = WireFormat::Anthropic},
    // DeepSeek documents both https://api.deepseek.com and .../v1; /v1 keeps paths OpenAI-shaped.
    {.name = "deepseek",
     .host = "api.deepseek.com",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/v1"},
    // Gemini's OpenAI-compatible endpoint, not its native generateContent API.
    {.name = "gemini",
     .host = "generativelanguage.googleapis.com",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/v1beta/openai"},
    {.name = "mistral",
     .host = "api.mistral.ai",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/v1"},
    {.name = "openrouter",
     .host = "openrouter.ai",
     .port = 443,
     .scheme = Scheme::Https,
     .base_path = "/api/v1"},
    // Self-hosted servers: their default ports on the local machine.
    {.name = "ollama",
     .host = "127.0.0.1",
     .port = 11434,
     .scheme = Scheme::Http,
     .base_path = "/v1"},
    {.name = "vllm", .host = "127.0.0.1", .port = 8000, .scheme = Scheme::Http, .base_path = "/v1"},
    {.name = "openai-compatible", .scheme = Scheme::Http, .base_path = "/v1"},
}};

}  // namespace

const ProviderDefaults* findProvider(std::string_view name) {
    for (const ProviderDefaults& provider : kProviders) {
        if (provider.name == name) return &provider;
    }
    return nullptr;
}

std::span<const ProviderDefaults> allProviders() {
    return kProviders;
}

std::string providerNameList() {
    std::string names;
    for (const ProviderDefaults& provider : kProviders) {
        if (!names.empty()) names += ", ";
        names += provider.name;
    }
    return names;
}

std::pair<std::string, std::string> apiKeyHeader(const ProviderDefaults& provider,
                                                 std::string_view key) {
    switch (provider.key_style) {
        case KeyStyle::ApiKey:
            return {"api-key", std::string(key)};
        case KeyStyle::XApiKey:
            return {"x-api-key", std::string(key)};
        case KeyStyle::Bearer:
            break;
    }
    return {"Authorization", "Bearer " + std::string(key)};
}

}  // namespace aiproxy::config
