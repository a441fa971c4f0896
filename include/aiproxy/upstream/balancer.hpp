#pragma once
// The seam every balancing algorithm plugs into (ARCHITECTURE.md section 1: "pluggable balancer").

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "aiproxy/config/config.hpp"

namespace aiproxy::upstream {

struct PickContext {
    // excluded[i] is true for nodes this request already tried or that are unavailable.
    // Shorter than the node list (or empty) means "not excluded" for the rest.
    const std::vector<bool>& excluded;
};

class Balancer {
public:
    virtual ~Balancer() = default;

    /// Picks a node index for one attempt. Called on the owning worker only; never blocks.
    /// Returns nullopt when no node is eligible (all excluded or weight 0).
    virtual std::optional<std::size_t> pick(const PickContext& context) = 0;
};

// Builds the balancer named by the upstream's `type` (validated by the config loader).
std::unique_ptr<Balancer> makeBalancer(const config::UpstreamConfig& upstream);

}  // namespace aiproxy::upstream
