#include "aiproxy/upstream/priority_balancer.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>

namespace aiproxy::upstream {

PriorityBalancer::PriorityBalancer(std::shared_ptr<UpstreamRuntime> runtime)
    : runtime_(std::move(runtime)) {
    std::map<int, std::vector<std::size_t>, std::greater<>> by_priority;
    const auto& nodes = runtime_->nodes();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].weight > 0) by_priority[nodes[i].priority].push_back(i);
    }
    for (auto& [priority, members] : by_priority)
        groups_.push_back(std::move(members));
    candidates_.reserve(nodes.size());
}

std::optional<std::size_t> PriorityBalancer::pick(const PickContext& context) {
    const auto& excluded = context.excluded;
    auto isExcluded = [&excluded](std::size_t i) { return i < excluded.size() && excluded[i]; };
    bool any_available = false;
    for (const auto& group : groups_) {
        candidates_.clear();
        for (std::size_t i : group) {
            auto& health = node(i).health();
            switch (health.availability(context.now)) {
                case Availability::Up:
                    any_available = true;
                    if (!isExcluded(i)) candidates_.push_back(i);
                    break;
                case Availability::TrialFree:
                    if (isExcluded(i)) {
                        any_available = true;
                    } else if (health.tryClaimTrial(context.now)) {
                        runtime_->leaveFailOpen();
                        if (context.notes) context.notes->trial = true;
                        return i;
                    }
                    break;
                case Availability::Down:
                    break;
            }
        }
        if (!candidates_.empty()) {
            runtime_->leaveFailOpen();
            return choose(candidates_, context);
        }
    }
    // Eligible nodes exist but this request tried them all: the caller moves on (fallback).
    if (any_available || !context.allow_fail_open) return std::nullopt;

    for (const auto& group : groups_) {
        candidates_.clear();
        std::copy_if(group.begin(), group.end(), std::back_inserter(candidates_),
                     [&isExcluded](std::size_t i) { return !isExcluded(i); });
        if (candidates_.empty()) continue;
        bool started = runtime_->enterFailOpen();
        if (context.notes) {
            context.notes->failed_open = true;
            context.notes->fail_open_started = started;
        }
        return choose(candidates_, context);
    }
    return std::nullopt;
}

}  // namespace aiproxy::upstream
