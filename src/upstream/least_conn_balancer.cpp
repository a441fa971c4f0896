#include "aiproxy/upstream/least_conn_balancer.hpp"

namespace aiproxy::upstream {

LeastConnBalancer::LeastConnBalancer(std::shared_ptr<UpstreamRuntime> runtime, std::uint64_t seed)
    : PriorityBalancer(std::move(runtime)), random_(seed) {
    ties_.reserve(this->runtime().size());
}

std::size_t LeastConnBalancer::choose(std::span<const std::size_t> candidates,
                                      const PickContext& /*context*/) {
    ties_.clear();
    std::int64_t best_load = 0;
    std::int64_t best_weight = 1;
    std::uint64_t tied_weight = 0;
    for (std::size_t i : candidates) {
        std::int64_t load = node(i).inFlight();
        std::int64_t w = weight(i);
        // load / w against best_load / best_weight, without division.
        std::int64_t lhs = load * best_weight;
        std::int64_t rhs = best_load * w;
        if (ties_.empty() || lhs < rhs) {
            ties_.clear();
            tied_weight = 0;
            best_load = load;
            best_weight = w;
        } else if (lhs > rhs) {
            continue;
        }
        ties_.push_back(i);
        tied_weight += static_cast<std::uint64_t>(w);
    }
    if (ties_.size() == 1) return ties_.front();
    std::uint64_t ticket = random_.below(tied_weight);
    for (std::size_t i : ties_) {
        auto w = static_cast<std::uint64_t>(weight(i));
        if (ticket < w) return i;
        ticket -= w;
    }
    return ties_.back();
}

}  // namespace aiproxy::upstream
