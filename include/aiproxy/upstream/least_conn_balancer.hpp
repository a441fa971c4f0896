#pragma once
// Least connections, weighted: the candidate with the fewest attempts in flight relative to its
// weight (in_flight / weight, compared exactly by cross-multiplication). The counts are the
// shared atomics of the UpstreamRuntime, so every worker sees the load the others put on a
// node, not only its own. Ties (above all the common case of several idle nodes) are broken at
// random in proportion to weight: two random choices compared on load, as P2C does, would always
// favour the same node among exact ties, and weights 4:1 would give 1:0 at low concurrency.
// This is what LLM backends want: requests last seconds and vary a lot in length, so the number
// in flight tracks a replica's real load better than a request rate does.

#include <cstdint>
#include <memory>
#include <vector>

#include "aiproxy/upstream/priority_balancer.hpp"
#include "aiproxy/upstream/random_source.hpp"

namespace aiproxy::upstream {

class LeastConnBalancer final : public PriorityBalancer {
public:
    LeastConnBalancer(std::shared_ptr<UpstreamRuntime> runtime, std::uint64_t seed);

private:
    std::size_t choose(std::span<const std::size_t> candidates,
                       const PickContext& context) override;

    RandomSource random_;
    std::vector<std::size_t> ties_;  // scratch
};

}  // namespace aiproxy::upstream
