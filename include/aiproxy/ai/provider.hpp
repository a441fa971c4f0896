#pragma once
// Request shaping per upstream: from what the client sent and the upstream's config (provider,
// auth, options, model_map) to what is sent upstream. Pure; the I/O shell applies the plan once
// per upstream (primary and fallback may be different providers) and reuses it for every attempt
// on that upstream.
//
// Body rewrites, in this order, on one parse and at most one serialisation:
//   1. model_map: the client's "model" -> the upstream's name (exact match; a "*" entry maps any
//      model not listed).
//   2. translation to the upstream's wire format (OpenAI chat <-> Anthropic messages, OpenAI
//      Responses -> Anthropic messages).
//   3. options: flat overwrite of top-level fields in the upstream's format; a JSON null removes
//      the field. Options come after model_map, so `options.model` wins over it.
//   4. Azure: "model" moves from the body into the deployment path.
// When none of these applies the body is left alone (plan.body is nullopt) and is never parsed,
// except for a cheap scan for "model". Asking an OpenAI-style upstream for stream usage is
// requestStreamUsage's job (stream_usage_filter.hpp), applied to the plan's body afterwards.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/config/config.hpp"

namespace aiproxy::ai {

// Which API the client is calling.
enum class ClientApi {
    OpenAiChat,         // chat/completions
    AnthropicMessages,  // messages (Anthropic SDKs call {base}/v1/messages)
    OpenAiResponses,    // responses (the Responses API; its other endpoints are OpenAiOther)
    OpenAiOther,        // anything else (models, embeddings, ...): forwarded, never translated
};

// `rest` is the path below the route's prefix (what `*` matched; the whole path for an exact
// route), with or without a leading '/'. A leading "v1/" is ignored, so SDKs given the gateway's
// URL with or without "/v1" are both recognised; for other endpoints it is dropped when the base
// path already ends in "/v1" (the Anthropic SDK calls {base}/v1/models).
ClientApi classifyClientApi(std::string_view rest);

struct RequestFacts {
    ClientApi api = ClientApi::OpenAiOther;
    std::string_view rest;   // as for classifyClientApi
    std::string_view query;  // without '?'; kept
    std::string_view body;   // raw request body; empty for GET
    // The body parsed on demand, at most once per request whatever the number of upstreams
    // (http::ClientRequest::jsonBody()); called only when a rewrite needs the body. Empty, or
    // returning null: the body is parsed here.
    std::function<const nlohmann::json*()> parsed;
};

struct UpstreamRequestPlan {
    // Origin-form target: base_path [+ "/deployments/" + model] + "/" + path + "?" + query, the
    // path being the upstream API's own (chat/completions, messages) or the client's rest; the
    // client's query is kept, auth query pairs (replacing same-name ones) and Azure's
    // api-version are appended, percent-encoded.
    std::string target;
    // Set on the upstream request, replacing any client header of the same name (auth headers,
    // Accept-Encoding: identity when the response must be translated).
    config::StringPairs set_headers;
    // Set only when the client did not send the header (anthropic-version: a native Anthropic
    // client keeps its own).
    config::StringPairs default_headers;
    // Client headers not to forward (lower case): its API keys when !pass_client_auth;
    // anthropic-version and anthropic-beta when an Anthropic client goes to an OpenAI upstream.
    std::vector<std::string> drop_headers;
    // The new body, or nullopt to send the client's unchanged. When set, Content-Length must be
    // its size and Content-Type application/json.
    std::optional<std::string> body;
    std::string client_model;    // "model" as the client sent it (empty: none)
    std::string upstream_model;  // what the upstream is finally asked for (Azure: deployment)
    Translation translation = Translation::None;  // which response/stream translator to use
    // The API the upstream is called with. OpenAiChat with Translation::None is where
    // requestStreamUsage and the usage-chunk filter apply; a translated stream's usage is the
    // translator's business (it reads the upstream's usage and honours client_include_usage).
    ClientApi upstream_api = ClientApi::OpenAiOther;
    // The OpenAI client asked stream_options.include_usage (for StreamTranslatorOptions; read
    // whenever the body was parsed, which translation always does).
    bool client_include_usage = false;
};

// A request the upstream cannot be asked: the caller answers `status` with an OpenAI-style error
// (type invalid_request_error, `code`), or an Anthropic-style one to /v1/messages clients.
struct ShapeError {
    unsigned status = 400;
    std::string message;
    std::string code;  // "invalid_json" or "untranslatable_request"
};

struct ShapeResult {
    UpstreamRequestPlan plan;
    std::optional<ShapeError> error;
    bool ok() const { return !error.has_value(); }
};

// The request to send to `upstream` for this client request. Reads upstream.provider (unknown
// names behave as openai-compatible), auth, pass_client_auth, options, model_map, api_version
// and base_path.
ShapeResult shapeRequest(const config::UpstreamConfig& upstream, const RequestFacts& request);

}  // namespace aiproxy::ai
