#pragma once
// Latency-aware balancing: peak-EWMA of time to first byte (see PeakEwma) times the attempts in
// flight plus one, divided by weight; the lower score of two candidates drawn at random wins
// (power of two choices, Mitzenmacher). Comparing two random candidates instead of taking the
// global best keeps workers, which all read the same shared estimates, from stampeding onto one
// node between two samples. A node that slows down scores high on its first slow answer and gets
// little traffic within seconds; its estimate decays while it is avoided, so it is tried again
// and wins back its share once its answers are fast. A node without samples yet scores 0 when
// idle (so it is tried) but a large penalty while one of its attempts is still out, so a new
// node is not flooded before its first answer tells anything.

#include <cstdint>
#include <memory>

#include "aiproxy/upstream/priority_balancer.hpp"
#include "aiproxy/upstream/random_source.hpp"

namespace aiproxy::upstream {

class EwmaBalancer final : public PriorityBalancer {
public:
    EwmaBalancer(std::shared_ptr<UpstreamRuntime> runtime, std::uint64_t seed);

    // The score choose() compares (lower is better), exposed for tests and debugging.
    double score(std::size_t node, Clock::time_point now) const;

private:
    static constexpr double kUnobservedPenalty = 1e6;  // seconds; beats any real estimate

    std::size_t choose(std::span<const std::size_t> candidates,
                       const PickContext& context) override;

    RandomSource random_;
};

}  // namespace aiproxy::upstream
