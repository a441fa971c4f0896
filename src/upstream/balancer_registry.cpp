#include "aiproxy/upstream/balancer_registry.hpp"

namespace aiproxy::upstream {

bool BalancerRegistry::fits(const Entry& entry, const BalancedSet& set) {
    return entry.balancer && entry.runtime == set.runtime && entry.type == set.balancing.type &&
           entry.hash_on == set.balancing.hash_on && entry.key == set.balancing.key;
}

BalancerRegistry::Entry BalancerRegistry::makeEntry(const BalancedSet& set) const {
    return Entry{.runtime = set.runtime,
                 .type = set.balancing.type,
                 .hash_on = set.balancing.hash_on,
                 .key = set.balancing.key,
                 .balancer = makeBalancer(set.balancing, set.runtime, options_)};
}

void BalancerRegistry::rebuild(const std::vector<const BalancedSet*>& sets) {
    std::unordered_map<std::string, Entry> next;
    for (const BalancedSet* set : sets) {
        auto old = by_key_.find(set->key);
        if (old != by_key_.end() && fits(old->second, *set)) {
            next.emplace(set->key, std::move(old->second));
        } else {
            next.emplace(set->key, makeEntry(*set));
        }
    }
    by_key_ = std::move(next);
}

Balancer& BalancerRegistry::get(const BalancedSet& set) {
    auto& entry = by_key_[set.key];
    if (!fits(entry, set)) entry = makeEntry(set);
    return *entry.balancer;
}

std::shared_ptr<Balancer> BalancerRegistry::share(const BalancedSet& set) {
    auto found = by_key_.find(set.key);
    if (found == by_key_.end()) {
        return by_key_.emplace(set.key, makeEntry(set)).first->second.balancer;
    }
    if (fits(found->second, set)) return found->second.balancer;
    return makeEntry(set).balancer;
}

}  // namespace aiproxy::upstream
