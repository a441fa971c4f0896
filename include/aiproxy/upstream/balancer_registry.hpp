#pragma once
// BalancerRegistry: one worker's balancers, one per upstream of the current snapshot. A balancer
// is carried over to a new snapshot when its upstream's nodes did not change, so a reload or an
// admin write does not reset the round-robin position.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "aiproxy/upstream/balancer.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::upstream {

class BalancerRegistry {
public:
    void rebuild(const std::vector<std::shared_ptr<const Upstream>>& upstreams);
    // The balancer of an upstream of the current snapshot, created on first use.
    Balancer& get(const Upstream& upstream);

private:
    struct Entry {
        std::vector<config::NodeConfig> nodes;
        std::string type;
        std::unique_ptr<Balancer> balancer;
    };
    std::unordered_map<std::string, Entry> by_id_;
};

}  // namespace aiproxy::upstream
