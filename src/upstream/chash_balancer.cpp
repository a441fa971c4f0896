#include "aiproxy/upstream/chash_balancer.hpp"

#include "aiproxy/upstream/session_pins.hpp"

namespace aiproxy::upstream {

ChashBalancer::ChashBalancer(std::shared_ptr<UpstreamRuntime> runtime, bool sessions)
    : PriorityBalancer(std::move(runtime)),
      ring_(this->runtime().hashRing()),
      member_(this->runtime().size(), 0),
      pins_(sessions ? &this->runtime().sessionPins() : nullptr) {}

std::size_t ChashBalancer::choose(std::span<const std::size_t> candidates,
                                  const PickContext& context) {
    if (pins_) {
        const auto& excluded = context.excluded;
        return pins_->place(context.hash_key, candidates, *ring_, [&excluded](std::size_t i) {
            return i < excluded.size() && excluded[i];
        });
    }
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
