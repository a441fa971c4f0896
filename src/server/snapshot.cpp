#include "aiproxy/server/snapshot.hpp"

#include <array>
#include <stdexcept>
#include <unordered_map>

#include "aiproxy/ai/response_rewrite.hpp"
#include "aiproxy/ai/side_llm.hpp"

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
    const auto& upstreams = compiled.upstreams;
    for (const auto& upstream : upstreams) {
        std::array<metrics::CounterCell*, 5> requests{};
        for (std::size_t c = 0; c < kStatusClasses.size(); ++c) {
            requests[c] =
                registry.counter("aiproxy_http_requests_total",
                                 "Requests answered, by route, upstream and status class.",
                                 {{"route", route.id},
                                  {"upstream", upstream->id()},
                                  {"status_class", std::string(kStatusClasses[c])}});
        }
        out.requests.push_back(requests);
        out.retries.push_back(registry.counter(
            "aiproxy_retries_total", "Attempts after the first, by the upstream retried.",
            {{"route", route.id}, {"upstream", upstream->id()}}));
        if (compiled.config.hedge) {
            out.hedges_sent.push_back(registry.counter(
                "aiproxy_hedges_sent_total",
                "Hedges sent: the request went to this upstream too while an earlier attempt "
                "had no first content yet.",
                {{"route", route.id}, {"upstream", upstream->id()}}));
            out.hedges_won.push_back(registry.counter(
                "aiproxy_hedges_won_total",
                "Hedges to this upstream that produced content before the attempts they raced.",
                {{"route", route.id}, {"upstream", upstream->id()}}));
        }
    }
    out.retry_budget_exhausted = registry.counter(
        "aiproxy_retry_budget_exhausted_total",
        "Retries and hedges not sent because the upstream's retry budget was spent.",
        {{"upstream", compiled.primary_set->runtime->id()}});
    if (compiled.fallback_set) {
        out.fallbacks = registry.counter(
            "aiproxy_fallbacks_total", "Requests that moved on to the fallback upstream.",
            {{"route", route.id}, {"from", upstreams[0]->id()}, {"to", upstreams[1]->id()}});
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
    if (compiled.response_rewrite) {
        out.redactions = registry.counter(
            "aiproxy_response_redactions_total",
            "Matches of ai-response-rewrite's redact patterns replaced in answers.",
            {{"route", route.id}});
    }
    auto modelMetrics = [&](const std::string& model) {
        ai::ModelMetrics cells;
        for (const auto& upstream : upstreams) {
            const char* types[] = {"prompt", "completion"};
            std::array<metrics::CounterCell*, 2> tokens{};
            for (std::size_t t = 0; t < 2; ++t) {
                tokens[t] = registry.sparseCounter(
                    "aiproxy_llm_tokens_total", "Tokens used, by route, upstream, model and type.",
                    {{"route", route.id},
                     {"upstream", upstream->id()},
                     {"model", model},
                     {"type", types[t]}});
            }
            cells.tokens.push_back(tokens);
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

namespace {

using UpstreamPtr = std::shared_ptr<const upstream::Upstream>;

// An upstream object for config: the previous snapshot's when nothing changed (its TLS context,
// session cache and runtime survive), else a new one that still takes over the previous
// runtime when the nodes and checks are the same.
UpstreamPtr buildUpstream(const config::UpstreamConfig& config,
                          const std::vector<UpstreamPtr>& previous) {
    std::shared_ptr<upstream::UpstreamRuntime> runtime;
    for (const auto& old : previous) {
        if (old->id() != config.id) continue;
        if (old->config() == config) return old;
        runtime = old->runtime();
    }
    return std::make_shared<const upstream::Upstream>(config, runtime);
}

// ai-proxy-multi: the instances as one balanced set, one member per instance. Its runtime shares
// the instances' node state; it (with the balancers' positions) is kept while the instances'
// runtimes, weights and priorities stay the same.
std::shared_ptr<const upstream::BalancedSet> instanceSet(const config::RouteConfig& route,
                                                         const std::vector<UpstreamPtr>& instances,
                                                         const ai::AiProxyRoute* previous) {
    const auto& multi = *route.ai_proxy_multi;
    auto set = std::make_shared<upstream::BalancedSet>();
    set->key = "route:" + route.id;
    set->balancing.id = set->key;
    set->balancing.type = multi.algorithm;
    set->balancing.hash_on = multi.hash_on;
    set->balancing.key = multi.key;
    set->balancing.retry_budget = multi.retry_budget;
    std::vector<std::shared_ptr<upstream::NodeRuntime>> nodes;
    for (const auto& instance : instances) {
        set->balancing.nodes.push_back(instance->config().nodes.front());
        nodes.push_back(instance->runtime()->sharedNode(0));
        set->members.push_back({.upstream = instance.get(), .node = 0});
    }
    if (previous && previous->instance_set) {
        const auto& old = *previous->instance_set;
        bool same =
            old.balancing.nodes == set->balancing.nodes && old.runtime->size() == nodes.size();
        for (std::size_t i = 0; same && i < nodes.size(); ++i)
            same = old.runtime->sharedNode(i) == nodes[i];
        if (same) set->runtime = old.runtime;
    }
    if (!set->runtime) {
        set->runtime = std::make_shared<upstream::UpstreamRuntime>(set->key, std::move(nodes));
    }
    return set;
}

// ai-proxy-multi's policy in ai-proxy's terms: every instance may be tried unless max_retries
// says less; only fallback_strategy lets failures move on.
void applyMultiPolicy(const config::AiProxyMultiConfig& multi, ai::AiProxyRoute& compiled) {
    int instances = static_cast<int>(multi.instances.size());
    compiled.multi = true;
    compiled.config.timeout = multi.timeout;
    compiled.config.retry = std::min(multi.max_retries.value_or(instances - 1), instances - 1);
    compiled.config.retry_on = multi.fallback_statuses;
    compiled.retry_failures = multi.fallback;
    compiled.retry_only_within = multi.retry_on_failure_within;
    compiled.deadline = multi.deadline;
    compiled.config.hold_preamble = multi.hold_preamble;
    compiled.config.preamble_max_bytes = multi.preamble_max_bytes;
    compiled.config.hedge = multi.hedge;
}

}  // namespace

const ai::AiProxyRoute* Snapshot::proxyOf(std::string_view id) const {
    const ai::AiProxyRoute* found = nullptr;
    for (const auto& route : compiled) {
        if (route.id == id && route.proxy) found = &route.proxy->route();
    }
    return found;
}

std::shared_ptr<const Snapshot> Snapshot::build(const config::Config& config,
                                                const Snapshot* previous,
                                                observe::MetricsRegistry* registry,
                                                std::shared_ptr<plugins::LimitStore> limit_store) {
    static const std::vector<UpstreamPtr> kNone;
    const auto& previous_upstreams = previous ? previous->upstreams : kNone;
    std::unordered_map<std::string, UpstreamPtr> by_id;
    std::vector<UpstreamPtr> upstreams;
    for (const auto& upstream_config : config.upstreams) {
        auto built = buildUpstream(upstream_config, previous_upstreams);
        by_id[upstream_config.id] = built;
        upstreams.push_back(built);
    }

    if (!limit_store) {
        limit_store = previous && previous->plugins ? previous->plugins->limit_store
                                                    : std::make_shared<plugins::LimitStore>();
    }
    auto snapshot =
        std::make_shared<Snapshot>(Snapshot{.routes = router::RouteTable{config.routes}});
    snapshot->upstreams = std::move(upstreams);
    // Shared by every route; label values for token metrics come from it, and budgets in USD
    // price their reservations with it.
    auto prices = std::make_shared<const ai::PriceTable>(config.pricing);
    auto price_of = [prices](std::string_view model) -> std::optional<config::ModelPrice> {
        const auto* price = prices->find(model);
        return price ? std::optional{*price} : std::nullopt;
    };
    snapshot->plugins =
        plugins::buildSharedState(config, std::move(limit_store), registry, price_of);
    for (const auto& upstream : snapshot->upstreams)
        snapshot->balanced_sets.push_back(&upstream->balancedSet());
    std::unordered_map<const upstream::Upstream*, const ai::UpstreamMetrics*> metrics_by_upstream;
    auto upstreamMetricsOf = [&](const upstream::Upstream& upstream) {
        auto& cells = metrics_by_upstream[&upstream];
        if (!cells) {
            snapshot->upstream_metrics.push_back(upstreamMetrics(*registry, upstream));
            cells = snapshot->upstream_metrics.back().get();
        }
        return cells;
    };
    if (registry) {
        for (const auto& upstream : snapshot->upstreams)
            upstreamMetricsOf(*upstream);
    }
    // The LLMs stages ask themselves (ai-request-rewrite's): upstreams of their own, kept across
    // snapshots like the others, whose pooled connections the workers keep too.
    const auto& previous_side = previous ? previous->side_upstreams : kNone;
    upstream::ExchangeLimits side_limits{
        .max_header_bytes = config.server.limits.max_response_header_bytes,
        // The answer becomes a request body: it gets the request body's bound.
        .max_body_bytes = config.server.limits.max_body_bytes};
    auto side_llm = [&](const config::UpstreamConfig& llm) {
        auto built = buildUpstream(llm, previous_side);
        snapshot->side_upstreams.push_back(built);
        snapshot->balanced_sets.push_back(&built->balancedSet());
        return ai::makeSideLlm(std::move(built), side_limits);
    };
    for (const auto& route : config.routes) {
        auto& compiled = snapshot->compiled.emplace_back();
        compiled.id = route.id;
        compiled.log = route.log;
        compiled.stages = plugins::buildStages({.route = route,
                                                .shared = *snapshot->plugins,
                                                .cells = registry,
                                                .side_llm = side_llm});
        if (registry) {
            for (std::size_t c = 0; c < kStatusClasses.size(); ++c) {
                compiled.refused[c] =
                    registry->counter("aiproxy_http_requests_total",
                                      "Requests answered, by route, upstream and status class.",
                                      {{"route", route.id},
                                       {"upstream", ""},
                                       {"status_class", std::string(kStatusClasses[c])}});
            }
        }
        ai::AiProxyRoute proxy{
            .route_id = route.id,
            .expose_upstream_headers = route.expose_upstream_headers,
            .max_response_header_bytes = config.server.limits.max_response_header_bytes,
            .max_response_body_bytes = config.server.limits.max_response_body_bytes,
            .prices = prices};
        if (route.ai_response_rewrite) {
            std::string error;
            proxy.response_rewrite = ai::compileResponseRewrite(*route.ai_response_rewrite, error);
            if (!proxy.response_rewrite) {
                throw std::runtime_error("route " + route.id + ": " + error);
            }
        }
        auto resolve = [&](const std::string& id) {
            auto found = by_id.find(id);
            if (found == by_id.end()) {
                throw std::runtime_error("route " + route.id + ": unknown upstream " + id);
            }
            return found->second;
        };
        if (route.ai_proxy) {
            proxy.config = *route.ai_proxy;
            proxy.deadline = route.ai_proxy->deadline;
            proxy.upstreams.push_back(resolve(route.ai_proxy->upstream_id));
            proxy.primary_set = &proxy.upstreams[0]->balancedSet();
            if (!route.ai_proxy->upstream_fallback_id.empty()) {
                proxy.upstreams.push_back(resolve(route.ai_proxy->upstream_fallback_id));
                proxy.fallback_set = &proxy.upstreams[1]->balancedSet();
            }
        } else if (route.ai_proxy_multi && !route.ai_proxy_multi->instances.empty()) {
            const ai::AiProxyRoute* old_route = previous ? previous->proxyOf(route.id) : nullptr;
            if (old_route && !old_route->multi) old_route = nullptr;
            static const std::vector<UpstreamPtr> kNoInstances;
            const auto& old_instances = old_route ? old_route->upstreams : kNoInstances;
            for (const auto& instance : route.ai_proxy_multi->instances)
                proxy.upstreams.push_back(buildUpstream(instance, old_instances));
            proxy.instance_set = instanceSet(route, proxy.upstreams, old_route);
            proxy.primary_set = proxy.instance_set.get();
            applyMultiPolicy(*route.ai_proxy_multi, proxy);
            snapshot->balanced_sets.push_back(proxy.instance_set.get());
        } else {
            continue;  // validation requires a terminal stage; the worker answers 500 if not
        }
        if (registry) {
            proxy.metrics = routeMetrics(*registry, route, proxy);
            for (const auto& upstream : proxy.upstreams)
                proxy.metrics.upstreams.push_back(upstreamMetricsOf(*upstream));
        }
        compiled.proxy = std::make_unique<ai::ProxyStage>(std::move(proxy));
        compiled.proxy->setName(route.ai_proxy_multi ? "ai-proxy-multi" : "ai-proxy");
    }
    if (registry) {
        for (const auto& consumer : config.consumers) {
            const char* help = "Tokens used, by consumer and type.";
            snapshot->consumer_metrics[consumer.id] = ConsumerMetrics{
                .prompt_tokens =
                    registry->sparseCounter("aiproxy_consumer_tokens_total", help,
                                            {{"consumer", consumer.id}, {"type", "prompt"}}),
                .completion_tokens =
                    registry->sparseCounter("aiproxy_consumer_tokens_total", help,
                                            {{"consumer", consumer.id}, {"type", "completion"}}),
                .cost = registry->sparseCounter("aiproxy_consumer_cost_usd_total",
                                                "Cost in USD from the price table, by consumer.",
                                                {{"consumer", consumer.id}}, 1e-9)};
        }
    }
    if (const auto& real_ip = config.server.real_ip) {
        std::vector<common::Cidr> trusted;
        for (const auto& text : real_ip->trusted_addresses) {
            if (auto range = common::Cidr::parse(text)) trusted.push_back(*range);
        }
        snapshot->real_ip.emplace(real_ip->header, std::move(trusted), real_ip->recursive);
    }
    return snapshot;
}

}  // namespace aiproxy::server
