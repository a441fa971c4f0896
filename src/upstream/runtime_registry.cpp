#include "aiproxy/upstream/runtime_registry.hpp"

#include <unordered_set>

namespace aiproxy::upstream {

std::shared_ptr<UpstreamRuntime> RuntimeRegistry::obtain(const config::UpstreamConfig& upstream) {
    auto& slot = by_id_[upstream.id];
    if (!slot || !slot->matches(upstream)) slot = std::make_shared<UpstreamRuntime>(upstream);
    return slot;
}

void RuntimeRegistry::retain(const std::vector<config::UpstreamConfig>& upstreams) {
    std::unordered_set<std::string_view> keep;
    for (const auto& upstream : upstreams)
        keep.insert(upstream.id);
    std::erase_if(by_id_, [&keep](const auto& entry) { return !keep.contains(entry.first); });
}

std::shared_ptr<UpstreamRuntime> RuntimeRegistry::find(std::string_view id) const {
    auto it = by_id_.find(std::string(id));
    return it == by_id_.end() ? nullptr : it->second;
}

}  // namespace aiproxy::upstream
