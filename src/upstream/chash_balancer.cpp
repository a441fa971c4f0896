#include "aiproxy/upstream/chash_balancer.hpp"

namespace aiproxy::upstream {

ChashBalancer::ChashBalancer(std::shared_ptr<UpstreamRuntime> runtime)
    : PriorityBalancer(std::move(runtime)),
      ring_(this->runtime().hashRing()),
      member_(this->runtime().size(), 0) {}

std::size_t ChashBalancer::choose(std::span<const std::size_t> candidates,
                                  const PickContext& context) {
    for (std::size_t i : candidates)
        member_[i] = 1;
    auto found = ring_->find(HashRing::hash(context.hash_key),
                             [this](std::size_t i) { return member_[i] != 0; });
    for (std::size_t i : candidates)
        member_[i] = 0;
    // Every candidate has weight > 0 and so points on the ring: found is always set.
    return found.value_or(candidates.front());
}

}  // namespace aiproxy::upstream
