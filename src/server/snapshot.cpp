#include "aiproxy/server/snapshot.hpp"

#include <array>
#include <stdexcept>
#include <unordered_map>

namespace aiproxy::server {
namespace {

constexpr std::array<std::string_view, 5> kStatusClasses{"1xx", "2xx", "3xx", "4xx", "5xx"};

std::unique_ptr<ai::UpstreamMetrics> upstreamMetrics(observe::MetricsRegistry& registry,
                                                     const upstream::Upstream& upstream) {
    auto out = std::make_unique<ai::UpstreamMetrics>();
    for (const auto& node : upstream.nodes()) {
        std::array<metrics::CounterCell*, ai::kAttemptLabels> cells{};
        for (std::size_t i = 0; i < ai::kAttemptLabels; ++i) {
            cells[i] = registry.counter(
                "aiproxy_upstream_attempts_total", "Attempts against upstream nodes, by outcome.",
                {{"upstream", upstream.id()},
                 {"node", node.address},
                 {"outcome", std::string(ai::attemptLabelName(static_cast<ai::AttemptLabel>(i)))}});
        }
        out->attempts.push_back(cells);
    }
    return out;
}

ai::RouteMetrics routeMetrics(observe::MetricsRegistry& registry, const config::RouteConfig& route,
                              const ai::AiProxyRoute& compiled) {
    ai::RouteMetrics out;
    const upstream::Upstream* upstreams[2] = {compiled.primary.get(), compiled.fallback.get()};
    for (std::size_t u = 0; u < 2; ++u) {
        if (!upstreams[u]) continue;
        for (std::size_t c = 0; c < kStatusClasses.size(); ++c) {
            out.requests[u][c] =
                registry.counter("aiproxy_http_requests_total",
                                 "Requests answered, by route, upstream and status class.",
                                 {{"route", route.id},
                                  {"upstream", upstreams[u]->id()},
                                  {"status_class", std::string(kStatusClasses[c])}});
        }
        out.retries[u] = registry.counter("aiproxy_retries_total",
                                          "Attempts after the first, by the upstream retried.",
                                          {{"route", route.id}, {"upstream", upstreams[u]->id()}});
    }
    if (compiled.fallback) {
        out.fallbacks = registry.counter("aiproxy_fallbacks_total",
                                         "Requests that moved on to the fallback upstream.",
                                         {{"route", route.id},
                                          {"from", compiled.primary->id()},
                                          {"to", compiled.fallback->id()}});
    }
    out.duration = registry.histogram("aiproxy_http_request_duration_seconds",
                                      "Time from the request to the end of the response.",
                                      observe::latencyBuckets(), {{"route", route.id}});
    out.time_to_first_token = registry.histogram(
        "aiproxy_llm_time_to_first_token_seconds",
        "Time from sending the upstream request to its first response body byte.",
        observe::latencyBuckets(), {{"route", route.id}});
    out.active_streams = registry.gauge("aiproxy_llm_active_streams",
                                        "Event streams being relayed now.", {{"route", route.id}});
    auto modelMetrics = [&](const std::string& model) {
        ai::ModelMetrics cells;
        for (std::size_t u = 0; u < 2; ++u) {
            if (!upstreams[u]) continue;
            const char* types[] = {"prompt", "completion"};
            for (std::size_t t = 0; t < 2; ++t) {
                cells.tokens[u][t] = registry.sparseCounter(
                    "aiproxy_llm_tokens_total", "Tokens used, by route, upstream, model and type.",
                    {{"route", route.id},
                     {"upstream", upstreams[u]->id()},
                     {"model", model},
                     {"type", types[t]}});
            }
        }
        cells.cost = registry.sparseCounter("aiproxy_llm_cost_usd_total",
                                            "Cost in USD from the price table, by route and model.",
                                            {{"route", route.id}, {"model", model}}, 1e-9);
        return cells;
    };
    for (const auto& model : compiled.prices->models())
        out.models.emplace(model, modelMetrics(model));
    out.other_model = modelMetrics("other");
    return out;
}

}  // namespace

std::shared_ptr<const Snapshot> Snapshot::build(const config::Config& config,
                                                const Snapshot* previous,
                                                observe::MetricsRegistry* registry) {
    std::unordered_map<std::string, std::shared_ptr<const upstream::Upstream>> by_id;
    std::vector<std::shared_ptr<const upstream::Upstream>> upstreams;
    for (const auto& upstream_config : config.upstreams) {
        std::shared_ptr<const upstream::Upstream> built;
        if (previous) {
            for (const auto& old : previous->upstreams) {
                if (old->config() == upstream_config) built = old;
            }
        }
        if (!built) built = std::make_shared<const upstream::Upstream>(upstream_config);
        by_id[upstream_config.id] = built;
        upstreams.push_back(built);
    }

    // Shared by every route; label values for token metrics come from it.
    auto prices = std::make_shared<const ai::PriceTable>(config.pricing);
    std::vector<ai::AiProxyRoute> ai_routes;
    for (const auto& route : config.routes) {
        ai::AiProxyRoute compiled{
            .route_id = route.id,
            .expose_upstream_headers = route.expose_upstream_headers,
            .max_response_header_bytes = config.server.limits.max_response_header_bytes,
            .max_response_body_bytes = config.server.limits.max_response_body_bytes,
            .prices = prices};
        if (route.ai_proxy) {
            compiled.config = *route.ai_proxy;
            auto primary = by_id.find(route.ai_proxy->upstream_id);
            if (primary == by_id.end()) {
                throw std::runtime_error("route " + route.id + ": unknown upstream " +
                                         route.ai_proxy->upstream_id);
            }
            compiled.primary = primary->second;
            if (!route.ai_proxy->upstream_fallback_id.empty()) {
                auto fallback = by_id.find(route.ai_proxy->upstream_fallback_id);
                if (fallback == by_id.end()) {
                    throw std::runtime_error("route " + route.id + ": unknown upstream " +
                                             route.ai_proxy->upstream_fallback_id);
                }
                compiled.fallback = fallback->second;
            }
        }
        ai_routes.push_back(std::move(compiled));
    }
    auto snapshot = std::make_shared<Snapshot>(Snapshot{
        router::RouteTable{config.routes}, std::move(ai_routes), std::move(upstreams), {}});
    if (registry) {
        std::unordered_map<const upstream::Upstream*, const ai::UpstreamMetrics*> by_upstream;
        for (const auto& upstream : snapshot->upstreams) {
            snapshot->upstream_metrics.push_back(upstreamMetrics(*registry, *upstream));
            by_upstream[upstream.get()] = snapshot->upstream_metrics.back().get();
        }
        for (std::size_t i = 0; i < snapshot->ai_routes.size(); ++i) {
            auto& route = snapshot->ai_routes[i];
            if (!route.primary) continue;
            route.metrics = routeMetrics(*registry, config.routes[i], route);
            route.metrics.primary = by_upstream[route.primary.get()];
            if (route.fallback) route.metrics.fallback = by_upstream[route.fallback.get()];
        }
    }
    return snapshot;
}

}  // namespace aiproxy::server
