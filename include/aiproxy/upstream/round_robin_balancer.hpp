#pragma once
// Smooth weighted round robin (the algorithm nginx uses): every pick adds each candidate's
// weight to its running score, takes the highest score and subtracts the candidates' total
// weight from it. Weights 4:1 give A A B A A ... interleaved and exactly 8:2 over 10 picks, with
// no random source, so results are reproducible. Plain (non-smooth) WRR was rejected because it
// sends bursts of consecutive requests to the heavy node. Nodes that sit out a pick (excluded,
// ejected, other priority group) keep their score, so retries and short ejections do not skew
// the long-run distribution. The scores are per worker: each worker is exact on its own.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "aiproxy/upstream/priority_balancer.hpp"

namespace aiproxy::upstream {

class RoundRobinBalancer final : public PriorityBalancer {
public:
    explicit RoundRobinBalancer(std::shared_ptr<UpstreamRuntime> runtime);
    // A standalone balancer over nodes of these weights (one priority, private health state).
    // The initializer_list form keeps `RoundRobinBalancer{{4, 1}}` unambiguous.
    explicit RoundRobinBalancer(std::vector<int> weights);
    explicit RoundRobinBalancer(std::initializer_list<int> weights)
        : RoundRobinBalancer(std::vector<int>(weights)) {}

private:
    std::size_t choose(std::span<const std::size_t> candidates,
                       const PickContext& context) override;

    std::vector<std::int64_t> scores_;
};

}  // namespace aiproxy::upstream
