#include "aiproxy/upstream/ewma_balancer.hpp"

namespace aiproxy::upstream {

EwmaBalancer::EwmaBalancer(std::shared_ptr<UpstreamRuntime> runtime, std::uint64_t seed)
    : PriorityBalancer(std::move(runtime)), random_(seed) {}

double EwmaBalancer::score(std::size_t index, Clock::time_point now) const {
    const auto& state = node(index);
    auto in_flight = static_cast<double>(state.inFlight());
    if (!state.latency().observed()) return in_flight > 0 ? kUnobservedPenalty * in_flight : 0;
    return state.latency().seconds(now) * (in_flight + 1) / weight(index);
}

std::size_t EwmaBalancer::choose(std::span<const std::size_t> candidates,
                                 const PickContext& context) {
    if (candidates.size() == 1) return candidates.front();
    auto [a, b] = random_.twoDistinct(candidates.size());
    std::size_t first = candidates[a];
    std::size_t second = candidates[b];
    return score(second, context.now) < score(first, context.now) ? second : first;
}

}  // namespace aiproxy::upstream
