#pragma once
// BalancerRegistry: one worker's balancers, one per balanced set (an upstream, or an
// ai-proxy-multi route's instances) of the current snapshot. A balancer is carried over to a new
// snapshot while its set keeps the same runtime (same nodes and checks) and algorithm, so a
// reload or an admin write does not reset the round-robin position.
//
// Balancers are shared with the requests that use them: a request keeps the balancer it started
// with until it ends, even when a rebuild drops it from the registry (ARCHITECTURE.md section 6,
// ownership rule). A request that still runs on an older snapshot whose set no longer fits gets a
// private balancer rather than replacing the current one.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "aiproxy/upstream/balancer.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::upstream {

class BalancerRegistry {
public:
    explicit BalancerRegistry(BalancerOptions options = {}) : options_(options) {}

    // Keeps the balancers of these sets, builds the missing ones and drops the rest.
    void rebuild(const std::vector<const BalancedSet*>& sets);
    // The balancer of a set, created on first use or when the set changed.
    Balancer& get(const BalancedSet& set);
    // The balancer a request holds for its whole life: the registry's when it fits the set,
    // else a private one (the request runs on a snapshot older than the registry's).
    std::shared_ptr<Balancer> share(const BalancedSet& set);

private:
    struct Entry {
        std::shared_ptr<UpstreamRuntime> runtime;
        std::string type;
        std::string hash_on;
        std::string key;
        std::shared_ptr<Balancer> balancer;
    };
    static bool fits(const Entry& entry, const BalancedSet& set);
    Entry makeEntry(const BalancedSet& set) const;

    BalancerOptions options_;
    std::unordered_map<std::string, Entry> by_key_;
};

}  // namespace aiproxy::upstream
