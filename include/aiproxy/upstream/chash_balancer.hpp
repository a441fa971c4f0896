#pragma once
// Consistent hashing: the request's hash key (PickContext::hash_key, see chashKey()) picks a
// point on the upstream's HashRing, shared by all workers; the first candidate clockwise from
// it gets the request. A node that is excluded, ejected or outside the current priority group
// is walked past, so its keys spread over the next nodes on the ring while everyone else's
// keys stay where they were. Useful for LLM backends with prompt caches: the same conversation
// keeps landing on the replica that has its prefix cached.

#include <memory>
#include <vector>

#include "aiproxy/upstream/hash_ring.hpp"
#include "aiproxy/upstream/priority_balancer.hpp"

namespace aiproxy::upstream {

class SessionPins;

class ChashBalancer final : public PriorityBalancer {
public:
    // sessions: `hash_on: session`, whose conversations stay pinned (session_pins.hpp).
    explicit ChashBalancer(std::shared_ptr<UpstreamRuntime> runtime, bool sessions = false);

private:
    std::size_t choose(std::span<const std::size_t> candidates,
                       const PickContext& context) override;

    std::shared_ptr<const HashRing> ring_;
    std::vector<char> member_;     // scratch: member_[i] while i is a candidate
    SessionPins* pins_ = nullptr;  // the runtime's, with `hash_on: session`
};

}  // namespace aiproxy::upstream
