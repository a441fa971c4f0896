#include "aiproxy/ai/provider.hpp"

#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/common/ascii.hpp"
#include "aiproxy/config/provider_defaults.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace {

using detail::Json;

std::string_view trimRest(std::string_view rest) {
    while (rest.starts_with('/'))
        rest.remove_prefix(1);
    return rest;
}

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string percentEncode(std::string_view text) {
    constexpr std::string_view kHex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 0x0F];
        }
    }
    return out;
}

// Query parameters of `query` whose (encoded) name is not in `names`, joined again.
std::string queryWithout(std::string_view query, const std::vector<std::string>& names) {
    std::string out;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        auto name = pair.substr(0, pair.find('='));
        bool dropped = false;
        for (const std::string& n : names)
            dropped = dropped || name == n;
        if (dropped || pair.empty()) continue;
        if (!out.empty()) out += '&';
        out += pair;
    }
    return out;
}

bool hasQueryParam(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        if (pair.substr(0, pair.find('=')) == name) return true;
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return false;
}

const std::string* mapModel(const config::StringPairs& model_map, std::string_view model) {
    const std::string* any = nullptr;
    for (const auto& [from, to] : model_map) {
        if (from == model) return &to;
        if (from == "*" && any == nullptr) any = &to;
    }
    return any;
}

// What the upstream side of the exchange is: the client's API, or its translation.
ClientApi upstreamApi(ClientApi client, Translation translation) {
    switch (translation) {
        case Translation::OpenAiToAnthropic:
        case Translation::ResponsesToAnthropic:
            return ClientApi::AnthropicMessages;
        case Translation::AnthropicToOpenAi:
            return ClientApi::OpenAiChat;
        case Translation::None:
            break;
    }
    return client;
}

struct BodyRewrite {
    std::optional<std::string> body;
    std::string client_model;
    std::string upstream_model;
    bool client_include_usage = false;
    bool model_unreadable = false;  // the scan saw a top-level model it could not take as is
    std::optional<ShapeError> error;
};

// Steps 1-4 of provider.hpp's list, on one parse.
void rewriteBody(const config::UpstreamConfig& upstream, const config::ProviderDefaults& provider,
                 const RequestFacts& request, Translation translation, BodyRewrite& rewrite) {
    // A copy of the request's parsed body (within the depth limit) costs less than a parse.
    const Json* parsed = request.parsed ? request.parsed() : nullptr;
    Json doc = parsed ? *parsed : detail::parseJson(request.body);
    if (!doc.is_object()) {
        // A model the scan could not read, in a body that is not JSON: it cannot be checked
        // for header safety, and no upstream would take it either.
        if (translation != Translation::None || rewrite.model_unreadable) {
            rewrite.error =
                ShapeError{.message = doc.is_discarded() ? "the request body is not valid JSON: " +
                                                               detail::jsonSyntaxError(request.body)
                                                         : "the request body is not a JSON object",
                           .code = "invalid_json"};
        }
        return;  // not JSON (multipart audio, say): forwarded untouched
    }
    bool changed = false;
    if (auto model = detail::stringMember(doc, "model")) {
        if (!isAcceptableModelName(*model)) {
            rewrite.error =
                ShapeError{.message = "model must be at most 256 bytes without control characters",
                           .code = "invalid_model"};
            return;
        }
        rewrite.client_model = *model;
        if (const std::string* mapped = mapModel(upstream.model_map, *model)) {
            doc["model"] = *mapped;
            changed = true;
        }
    }
    auto stream_options = detail::member(doc, "stream_options");
    rewrite.client_include_usage =
        stream_options && detail::boolMember(*stream_options, "include_usage").value_or(false);

    if (translation != Translation::None) {
        Json translated;
        std::string error;
        switch (translation) {
            case Translation::OpenAiToAnthropic:
                error = detail::openAiChatToAnthropic(doc, AnthropicRequestOptions{}, translated);
                break;
            case Translation::ResponsesToAnthropic:
                error = detail::responsesToAnthropic(doc, AnthropicRequestOptions{}, translated);
                break;
            case Translation::AnthropicToOpenAi:
            case Translation::None:
                error = detail::anthropicToOpenAiChat(doc, translated);
                break;
        }
        if (!error.empty()) {
            rewrite.error =
                ShapeError{.message = std::move(error), .code = "untranslatable_request"};
            return;
        }
        doc = std::move(translated);
        changed = true;
    }
    for (const auto& [name, text] : upstream.options) {
        Json value = detail::parseJson(text);
        if (value.is_discarded()) value = text;  // a bare word is a string
        if (value.is_null()) {
            doc.erase(name);
        } else {
            doc[name] = std::move(value);
        }
        changed = true;
    }
    rewrite.upstream_model = detail::stringMember(doc, "model").value_or("");
    if (provider.deployment_paths && detail::member(doc, "model") != nullptr) {
        doc.erase("model");
        changed = true;
    }
    if (changed) rewrite.body = detail::dumpJson(doc);
}

}  // namespace

ClientApi classifyClientApi(std::string_view rest) {
    rest = trimRest(rest);
    if (rest.starts_with("v1/")) rest.remove_prefix(3);
    if (rest == "chat/completions") return ClientApi::OpenAiChat;
    if (rest == "messages") return ClientApi::AnthropicMessages;
    if (rest == "responses") return ClientApi::OpenAiResponses;
    return ClientApi::OpenAiOther;
}

ShapeResult shapeRequest(const config::UpstreamConfig& upstream, const RequestFacts& request) {
    const config::ProviderDefaults* provider = config::findProvider(upstream.provider);
    if (provider == nullptr) provider = config::findProvider("openai-compatible");
    ShapeResult result;
    UpstreamRequestPlan& plan = result.plan;

    bool anthropic_wire = provider->wire_format == config::WireFormat::Anthropic;
    if (request.api == ClientApi::OpenAiChat && anthropic_wire) {
        plan.translation = Translation::OpenAiToAnthropic;
    } else if (request.api == ClientApi::AnthropicMessages && !anthropic_wire) {
        plan.translation = Translation::AnthropicToOpenAi;
    } else if (request.api == ClientApi::OpenAiResponses && anthropic_wire) {
        plan.translation = Translation::ResponsesToAnthropic;
    }

    // Body: parse only when a rewrite may apply.
    BodyRewrite rewrite;
    auto scan = scanRequestModel(request.body);
    if (scan.model) rewrite.client_model = *scan.model;
    rewrite.model_unreadable = scan.unreadable;
    rewrite.upstream_model = rewrite.client_model;
    bool mapped = scan.model ? mapModel(upstream.model_map, *scan.model) != nullptr
                             : !upstream.model_map.empty();
    // A model with escapes is read by a parse, which also checks it can go into a header.
    bool parse = plan.translation != Translation::None || !upstream.options.empty() || mapped ||
                 provider->deployment_paths || scan.unreadable;
    if (parse && !request.body.empty()) {
        rewriteBody(upstream, *provider, request, plan.translation, rewrite);
        if (rewrite.error) {
            result.error = std::move(rewrite.error);
            return result;
        }
    }
    plan.body = std::move(rewrite.body);
    plan.client_model = std::move(rewrite.client_model);
    plan.upstream_model = std::move(rewrite.upstream_model);
    plan.client_include_usage = rewrite.client_include_usage;
    plan.upstream_api = upstreamApi(request.api, plan.translation);

    // Target: base_path [/deployments/{model}] /rest ? query
    std::string_view rest;
    switch (plan.upstream_api) {
        case ClientApi::OpenAiChat:
            rest = "chat/completions";
            break;
        case ClientApi::AnthropicMessages:
            rest = "messages";
            break;
        case ClientApi::OpenAiResponses:
        case ClientApi::OpenAiOther:
            rest = trimRest(request.rest);
            // SDKs given the gateway's URL without /v1 add it themselves: do not double it.
            if (upstream.base_path.ends_with("/v1") && rest.starts_with("v1/")) {
                rest.remove_prefix(3);
            }
            break;
    }
    plan.target = upstream.base_path;
    if (provider->deployment_paths && !plan.upstream_model.empty()) {
        plan.target += "/deployments/";
        plan.target += percentEncode(plan.upstream_model);
    }
    plan.target += '/';
    plan.target += rest;

    std::vector<std::string> auth_names;
    for (const auto& [name, value] : upstream.auth.query)
        auth_names.push_back(percentEncode(name));
    std::string query = queryWithout(request.query, auth_names);
    auto addParam = [&query](std::string_view name, std::string_view value) {
        if (!query.empty()) query += '&';
        query += name;
        query += '=';
        query += value;
    };
    if (provider->deployment_paths && !hasQueryParam(query, "api-version")) {
        addParam("api-version", percentEncode(upstream.api_version.empty()
                                                  ? provider->api_version
                                                  : std::string_view(upstream.api_version)));
    }
    for (std::size_t i = 0; i < upstream.auth.query.size(); ++i)
        addParam(auth_names[i], percentEncode(upstream.auth.query[i].second));
    if (!query.empty()) {
        plan.target += '?';
        plan.target += query;
    }

    // Headers.
    plan.set_headers = upstream.auth.header;
    for (const config::FixedHeader& fixed : provider->fixed_headers) {
        bool configured = false;
        for (const auto& [name, value] : plan.set_headers)
            configured = configured || common::equalsIgnoreCase(name, fixed.name);
        if (!configured) plan.default_headers.emplace_back(fixed.name, fixed.value);
    }
    if (plan.translation != Translation::None) {
        // The response is rewritten, so it must arrive uncompressed.
        plan.set_headers.emplace_back("Accept-Encoding", "identity");
    }
    if (!upstream.pass_client_auth) {
        plan.drop_headers = {"authorization", "api-key", "x-api-key"};
    }
    if (plan.translation == Translation::AnthropicToOpenAi) {
        plan.drop_headers.emplace_back("anthropic-version");
        plan.drop_headers.emplace_back("anthropic-beta");
    }
    return result;
}

}  // namespace aiproxy::ai
