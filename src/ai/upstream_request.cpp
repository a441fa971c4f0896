#include "upstream_request.hpp"

#include <nlohmann/json.hpp>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/ai/stream_usage_filter.hpp"
#include "aiproxy/common/ascii.hpp"
#include "aiproxy/config/provider_defaults.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "simple_json.hpp"

namespace aiproxy::ai {

namespace bhttp = http::bhttp;

namespace {

// requestStreamUsage without its parse, for a body in the simple JSON subset (see
// simple_json.hpp), which a scan reads as a parser would: decided when the body does not stream
// or streams without stream_options (the member is spliced in, as requestStreamUsage does);
// false leaves the rest (stream_options present, other bodies) to requestStreamUsage.
bool streamsWithoutOptions(const std::string& sent, PreparedRequest& prepared) {
    std::optional<std::string_view> values[2];
    if (!detail::isSimpleJson(sent) || !detail::simpleIsObject(sent) ||
        !scanTopLevelMembers(sent, {"stream", "stream_options"}, values)) {
        return false;
    }
    const auto& [stream, options] = values;
    if (!stream || *stream != "true") return true;  // not streaming: nothing to ask for
    if (options) return false;
    std::string body = sent;
    body.insert(body.find('{') + 1, R"("stream_options":{"include_usage":true},)");
    prepared.body = std::move(body);
    prepared.hide_usage_chunk = true;
    return true;
}

}  // namespace

PreparedRequest prepareRequest(const upstream::Upstream& upstream, http::ClientRequest& request,
                               ClientApi client_api, std::string_view rest) {
    PreparedRequest prepared;
    const auto& client = request.message;
    const auto& config = upstream.config();
    RequestFacts facts{.api = client_api,
                       .rest = rest,
                       .query = request.query,
                       .body = client.body(),
                       .parsed = [&request] { return request.jsonBody(); }};
    ShapeResult shaped = shapeRequest(config, facts);
    if (!shaped.ok()) {
        prepared.error = shaped.error;
        return prepared;
    }
    prepared.plan = std::move(shaped.plan);
    const auto* provider = config::findProvider(config.provider);
    prepared.upstream_anthropic =
        provider && provider->wire_format == config::WireFormat::Anthropic;
    prepared.body = std::move(prepared.plan.body);
    // Usage of an OpenAI chat stream arrives only when asked for; ask, and hide the extra
    // chunk from a client that did not.
    if (prepared.plan.translation == Translation::None &&
        prepared.plan.upstream_api == ClientApi::OpenAiChat) {
        const std::string& sent = prepared.body ? *prepared.body : client.body();
        // Most requests do not stream: skip the copy and the parse for them.
        if (sent.find("\"stream\"") != std::string::npos &&
            !streamsWithoutOptions(sent, prepared)) {
            std::string body = sent;
            const nlohmann::json* parsed = prepared.body ? nullptr : request.jsonBody();
            if (requestStreamUsage(body, parsed).rewritten) {
                prepared.body = std::move(body);
                prepared.hide_usage_chunk = true;
            }
        }
    }

    std::string& fields = prepared.fields;
    fields.reserve(1024);
    // accept-encoding: every answer must arrive uncompressed, since usage (tokens, cost,
    // ai-rate-limiting) is read from it whatever the client accepts.
    // Views: the names outlive the call (literals and the plan's strings).
    std::vector<std::string_view> skip{"host",
                                       "content-length",
                                       "expect",
                                       "accept-encoding",
                                       "x-forwarded-for",
                                       "x-forwarded-proto",
                                       "x-forwarded-host",
                                       "x-request-id"};
    for (const auto& name : prepared.plan.drop_headers)
        skip.push_back(name);
    for (const auto& [name, value] : prepared.plan.set_headers)
        skip.push_back(name);
    if (prepared.body) skip.push_back("content-type");
    http::appendEndToEndFields(fields, client.base(), skip);
    bool encoding_set = false;
    for (const auto& [name, value] : prepared.plan.set_headers) {
        fields += name + ": " + value + "\r\n";
        encoding_set = encoding_set || common::equalsIgnoreCase(name, "accept-encoding");
    }
    if (!encoding_set) fields += "Accept-Encoding: identity\r\n";
    for (const auto& [name, value] : prepared.plan.default_headers) {
        if (client[name].empty()) fields += name + ": " + value + "\r\n";
    }
    if (prepared.body) fields += "Content-Type: application/json\r\n";
    fields += "X-Forwarded-For: ";
    fields += http::appendForwardedFor(http::combinedFieldValue(client.base(), "X-Forwarded-For"),
                                       request.peer_address);
    fields += request.tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n";
    if (auto host = client[bhttp::field::host]; !host.empty()) {
        fields += "X-Forwarded-Host: ";
        fields += host;
        fields += "\r\n";
    }
    fields += "X-Request-Id: ";
    fields += request.request_id;
    fields += "\r\n";
    std::size_t length = prepared.body ? prepared.body->size() : client.body().size();
    auto method = client.method();
    if (length > 0 || method == bhttp::verb::post || method == bhttp::verb::put ||
        method == bhttp::verb::patch) {
        fields += "Content-Length: ";
        fields += std::to_string(length);
        fields += "\r\n";
    }
    fields += "\r\n";
    return prepared;
}

std::string requestHead(const PreparedRequest& prepared, const upstream::Node& node,
                        const http::Request& client, bool enable_upstream_host) {
    std::string head;
    head.reserve(prepared.fields.size() + 160);
    head += client.method_string();
    head += ' ';
    head += prepared.plan.target;
    head += " HTTP/1.1\r\nHost: ";
    head += enable_upstream_host ? std::string_view(node.host_header)
                                 : std::string_view(client[bhttp::field::host]);
    head += "\r\n";
    head += prepared.fields;
    return head;
}

}  // namespace aiproxy::ai
