#pragma once
// The ai-proxy stage: the terminal stage of LLM routes (ARCHITECTURE.md section 4, steps 4-7).
// It forwards the request to the primary upstream, retries on other nodes and on the fallback
// upstream before the commit point (the first response body byte), and relays the response as
// it arrives.

#include <memory>
#include <string>
#include <string_view>

#include "aiproxy/config/config.hpp"
#include "aiproxy/http/http_session.hpp"
#include "aiproxy/upstream/balancer_registry.hpp"
#include "aiproxy/upstream/connection_pool.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::ai {

// A route's ai-proxy settings with its upstreams resolved, built once per snapshot.
struct AiProxyRoute {
    std::string route_id;
    config::AiProxyConfig config;
    std::shared_ptr<const upstream::Upstream> primary;
    std::shared_ptr<const upstream::Upstream> fallback;  // may be null
    bool expose_upstream_headers = true;
    std::size_t max_response_header_bytes = 64 * 1024;
    std::size_t max_response_body_bytes = 256 * 1024 * 1024;
};

// Worker-owned state the stage uses; never shared across threads.
struct WorkerServices {
    upstream::ConnectionPool& pool;
    upstream::DnsCache& dns;
    upstream::BalancerRegistry& balancers;
};

// What '*' matched in the route's uri, or the whole path for an exact route.
struct ForwardPath {
    bool prefix = false;
    std::string_view rest;
};

// base_path + "/" + rest (prefix routes) or base_path + path (exact routes), then "?query".
std::string upstreamTarget(std::string_view base_path, const ForwardPath& forward,
                           std::string_view path, std::string_view query);

http::awaitable<void> proxyRequest(const AiProxyRoute& route, const ForwardPath& forward,
                                   http::ClientRequest& request, http::ResponseSink& sink,
                                   WorkerServices& services);

}  // namespace aiproxy::ai
