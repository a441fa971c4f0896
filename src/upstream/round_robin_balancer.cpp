#include "aiproxy/upstream/round_robin_balancer.hpp"

#include <string>

namespace aiproxy::upstream {
namespace {

std::shared_ptr<UpstreamRuntime> runtimeOfWeights(const std::vector<int>& weights) {
    std::vector<config::NodeConfig> nodes;
    nodes.reserve(weights.size());
    for (std::size_t i = 0; i < weights.size(); ++i) {
        nodes.push_back(config::NodeConfig{
            .host = "node" + std::to_string(i), .port = 80, .weight = weights[i]});
    }
    return std::make_shared<UpstreamRuntime>("", std::move(nodes), config::HealthChecksConfig{},
                                             UpstreamRuntime::Options{});
}

}  // namespace

RoundRobinBalancer::RoundRobinBalancer(std::shared_ptr<UpstreamRuntime> runtime)
    : PriorityBalancer(std::move(runtime)), scores_(this->runtime().size(), 0) {}

RoundRobinBalancer::RoundRobinBalancer(std::vector<int> weights)
    : RoundRobinBalancer(runtimeOfWeights(weights)) {}

std::size_t RoundRobinBalancer::choose(std::span<const std::size_t> candidates,
                                       const PickContext& /*context*/) {
    std::size_t best = candidates.front();
    std::int64_t total = 0;
    for (std::size_t i : candidates) {
        scores_[i] += weight(i);
        total += weight(i);
        if (scores_[i] > scores_[best]) best = i;
    }
    scores_[best] -= total;
    return best;
}

}  // namespace aiproxy::upstream
