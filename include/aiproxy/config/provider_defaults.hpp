#pragma once
// What each `provider` of an upstream implies: where its public endpoint is, how it takes an API
// key, which headers it always wants and which wire format it speaks. The loader applies these
// where the upstream's own fields are silent; the ai folder reads the rest (key style, fixed
// headers, wire format, Azure deployment paths) when it shapes a request.
//
// Sources: each provider's API reference (OpenAI, Azure OpenAI REST reference, Anthropic Messages
// API, DeepSeek "Your first API call", Gemini OpenAI compatibility, Mistral, OpenRouter, Ollama
// OpenAI compatibility, vLLM OpenAI-compatible server).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "aiproxy/config/config.hpp"

namespace aiproxy::config {

// The request/response format an upstream speaks.
enum class WireFormat { OpenAi, Anthropic };

// How an API key travels.
enum class KeyStyle {
    Bearer,   // Authorization: Bearer <key>
    ApiKey,   // api-key: <key>           (Azure OpenAI)
    XApiKey,  // x-api-key: <key>         (Anthropic)
};

struct FixedHeader {
    std::string_view name;
    std::string_view value;
};

struct ProviderDefaults {
    std::string_view name;
    std::string_view host;  // empty: no single public endpoint (Azure resource, self-hosted)
    std::uint16_t port = 0;
    Scheme scheme = Scheme::Https;
    std::string_view base_path;  // prefix of every forwarded path
    KeyStyle key_style = KeyStyle::Bearer;
    std::span<const FixedHeader> fixed_headers;  // sent on every request (anthropic-version)
    WireFormat wire_format = WireFormat::OpenAi;
    // Azure OpenAI: {base_path}/deployments/{model}/{rest}?api-version=..., no "model" in the body.
    bool deployment_paths = false;
    std::string_view api_version;  // default ?api-version= when deployment_paths
};

// The provider named `name` (exact, lower case), or nullptr.
const ProviderDefaults* findProvider(std::string_view name);

// Every known provider, in documentation order.
std::span<const ProviderDefaults> allProviders();

// "openai, azure-openai, ..." for error messages ("provider: must be one of ...").
std::string providerNameList();

// The header that carries `key` for this provider, e.g. {"Authorization", "Bearer sk-..."}.
std::pair<std::string, std::string> apiKeyHeader(const ProviderDefaults& provider,
                                                 std::string_view key);

}  // namespace aiproxy::config
