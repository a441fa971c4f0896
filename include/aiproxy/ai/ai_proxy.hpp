#pragma once
// The proxy stage: the terminal stage of LLM routes (ai-proxy and ai-proxy-multi; ARCHITECTURE.md
// section 4, steps 4-7). It plans the attempts, runs each through the upstream HTTP client,
// relays the answer as it arrives (nothing reaches the client before the commit point, so a
// failed attempt is retried elsewhere), and accounts for usage, cost and metrics.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aiproxy/ai/pricing.hpp"
#include "aiproxy/ai/proxy_metrics.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/http/stage.hpp"
#include "aiproxy/upstream/balancer_registry.hpp"
#include "aiproxy/upstream/connection_pool.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace aiproxy::ai {

struct ResponseRewrite;

// A route's ai-proxy or ai-proxy-multi settings with its upstreams resolved, built once per
// snapshot. Both plugins run the same stage: only the sets the balancers pick from differ.
struct AiProxyRoute {
    std::string route_id;
    // timeout, retry and retry_on; ai-proxy-multi's are derived from its own fields.
    config::AiProxyConfig config;
    bool retry_failures = true;  // connect failures, timeouts and resets move on
    std::optional<config::Milliseconds> retry_only_within;
    // The whole request's time until it commits, across attempts; unset: only `timeout` holds.
    std::optional<config::Milliseconds> deadline;
    // Slots: ai-proxy: primary, then the fallback if any; ai-proxy-multi: its instances.
    std::vector<std::shared_ptr<const upstream::Upstream>> upstreams;
    bool multi = false;
    const upstream::BalancedSet* primary_set = nullptr;         // never null once built
    const upstream::BalancedSet* fallback_set = nullptr;        // ai-proxy's fallback upstream
    std::shared_ptr<const upstream::BalancedSet> instance_set;  // owns ai-proxy-multi's set
    bool expose_upstream_headers = true;
    std::size_t max_response_header_bytes = 64 * 1024;
    std::size_t max_response_body_bytes = 256 * 1024 * 1024;
    std::shared_ptr<const PriceTable> prices;  // never null once built
    // ai-response-rewrite (response_rewrite.hpp); null: answers pass as they come.
    std::shared_ptr<const ResponseRewrite> response_rewrite;
    RouteMetrics metrics;
};

// Worker-owned state the stage uses; never shared across threads. The worker passes it as the
// context's services.
struct WorkerServices final : http::StageServices {
    WorkerServices(http::net::any_io_executor executor, std::size_t metrics_slot,
                   upstream::ConnectionPool& pool_, upstream::DnsCache& dns_,
                   upstream::BalancerRegistry& balancers_, const DataPathMetrics* metrics_,
                   spdlog::logger* log_)
        : StageServices(std::move(executor), metrics_slot),
          pool(pool_),
          dns(dns_),
          balancers(balancers_),
          metrics(metrics_),
          log(log_) {}
    // `llm` must come from makeSideLlm (side_llm.hpp); anything else is answered with an error.
    http::awaitable<http::LlmAnswer> askLlm(const http::SideLlm& llm, http::LlmQuestion question,
                                            http::ResponseSink& client) override;
    upstream::ConnectionPool& pool;
    upstream::DnsCache& dns;
    upstream::BalancerRegistry& balancers;
    const DataPathMetrics* metrics = nullptr;
    // Asynchronous: a worker hands a line to the logging thread instead of writing stderr under
    // its lock. Null: spdlog's default logger.
    spdlog::logger* log = nullptr;
};

class ProxyStage final : public http::Stage {
public:
    explicit ProxyStage(AiProxyRoute route) : route_(std::move(route)) {}
    const AiProxyRoute& route() const { return route_; }
    // Always answers (Stop). context.services must be the worker's WorkerServices.
    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override;

private:
    AiProxyRoute route_;
};

}  // namespace aiproxy::ai
