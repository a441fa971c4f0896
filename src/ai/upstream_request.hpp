#pragma once
// The request as one upstream gets it (ARCHITECTURE.md section 4.4): shaped for its provider
// (credentials, options, model_map, translation), with the client's end-to-end headers and
// X-Forwarded-*; made once per upstream and replayed by every attempt on it.

#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/ai/provider.hpp"
#include "aiproxy/http/http_session.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::ai {

struct PreparedRequest {
    UpstreamRequestPlan plan;
    std::optional<std::string> body;  // nullopt: the client's body as it came
    std::string fields;               // end-to-end + X-Forwarded-* + Content-Length + CRLF
    bool hide_usage_chunk = false;    // the gateway added include_usage; the client did not ask
    bool upstream_anthropic = false;
    std::optional<ShapeError> error;
};

PreparedRequest prepareRequest(const upstream::Upstream& upstream, http::ClientRequest& request,
                               ClientApi client_api, std::string_view rest);

// "METHOD target HTTP/1.1", Host (the node's, or the client's when enable_upstream_host is
// off), then the prepared fields.
std::string requestHead(const PreparedRequest& prepared, const upstream::Node& node,
                        const http::Request& client, bool enable_upstream_host);

}  // namespace aiproxy::ai
