#pragma once
// Smooth weighted round robin (the algorithm nginx uses): every pick adds each eligible node's
// weight to its running score, takes the highest score and subtracts the total weight from it.
// Weights 4:1 give A A B A A ... interleaved and exactly 8:2 over 10 picks, with no random
// source, so results are reproducible. Plain (non-smooth) WRR was rejected because it sends
// bursts of consecutive requests to the heavy node. Excluded nodes sit out a pick without
// losing their score, so retries do not skew the long-run distribution.

#include <cstdint>

#include "aiproxy/upstream/balancer.hpp"

namespace aiproxy::upstream {

class RoundRobinBalancer final : public Balancer {
public:
    explicit RoundRobinBalancer(std::vector<int> weights);
    std::optional<std::size_t> pick(const PickContext& context) override;

private:
    std::vector<int> weights_;
    std::vector<std::int64_t> scores_;
};

}  // namespace aiproxy::upstream
