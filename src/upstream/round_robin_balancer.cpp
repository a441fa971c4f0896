#include "aiproxy/upstream/round_robin_balancer.hpp"

namespace aiproxy::upstream {

RoundRobinBalancer::RoundRobinBalancer(std::vector<int> weights)
    : weights_(std::move(weights)), scores_(weights_.size(), 0) {}

std::optional<std::size_t> RoundRobinBalancer::pick(const PickContext& context) {
    std::optional<std::size_t> best;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        bool excluded = i < context.excluded.size() && context.excluded[i];
        if (excluded || weights_[i] <= 0) continue;
        scores_[i] += weights_[i];
        total += weights_[i];
        if (!best || scores_[i] > scores_[*best]) best = i;
    }
    if (best) scores_[*best] -= total;
    return best;
}

std::unique_ptr<Balancer> makeBalancer(const config::UpstreamConfig& upstream) {
    std::vector<int> weights;
    weights.reserve(upstream.nodes.size());
    for (const auto& node : upstream.nodes)
        weights.push_back(node.weight);
    return std::make_unique<RoundRobinBalancer>(std::move(weights));
}

}  // namespace aiproxy::upstream
