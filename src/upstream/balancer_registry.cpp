#include "aiproxy/upstream/balancer_registry.hpp"

namespace aiproxy::upstream {

void BalancerRegistry::rebuild(const std::vector<std::shared_ptr<const Upstream>>& upstreams) {
    std::unordered_map<std::string, Entry> next;
    for (const auto& upstream : upstreams) {
        const auto& config = upstream->config();
        auto old = by_id_.find(config.id);
        if (old != by_id_.end() && old->second.nodes == config.nodes &&
            old->second.type == config.type) {
            old->second.built_for = upstream.get();
            next.emplace(config.id, std::move(old->second));
        } else {
            next.emplace(config.id, Entry{.built_for = upstream.get(),
                                          .nodes = config.nodes,
                                          .type = config.type,
                                          .balancer = makeBalancer(config)});
        }
    }
    by_id_ = std::move(next);
}

Balancer& BalancerRegistry::get(const Upstream& upstream) {
    auto& entry = by_id_[upstream.id()];
    if (entry.built_for == &upstream) return *entry.balancer;
    if (!entry.balancer || entry.nodes != upstream.config().nodes ||
        entry.type != upstream.config().type) {
        entry = Entry{.nodes = upstream.config().nodes,
                      .type = upstream.config().type,
                      .balancer = makeBalancer(upstream.config())};
    }
    entry.built_for = &upstream;
    return *entry.balancer;
}

}  // namespace aiproxy::upstream
