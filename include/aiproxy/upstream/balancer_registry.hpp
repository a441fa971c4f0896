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
        // The upstream object the balancer serves. Snapshots reuse unchanged Upstream objects,
        // so per request a pointer comparison suffices; the node list is compared only when a
        // request still runs on an older snapshot.
        const Upstream* built_for = nullptr;
        std::vector<config::NodeConfig> nodes;
        std::string type;
        std::unique_ptr<Balancer> balancer;
    };
    std::unordered_map<std::string, Entry> by_id_;
};

}  // namespace aiproxy::upstream
