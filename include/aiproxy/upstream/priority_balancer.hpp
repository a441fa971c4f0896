#pragma once
// PriorityBalancer: what every balancer does before its own algorithm runs, written once.
//
// 1. Priority groups, highest `priority` first (as in APISIX): a pick considers only the first
//    group that has an eligible node; lower groups serve only when every higher node is
//    excluded, ejected or unhealthy.
// 2. Health: nodes that are ejected or marked unhealthy sit out. A half-open node that is not
//    excluded gets the pick ahead of the algorithm, if this pick wins its single trial, so a
//    recovered node is tried by the next request instead of waiting for its turn.
// 3. Fail open: when every node of the upstream is ejected or unhealthy, health is ignored and
//    the algorithm picks among all non-excluded nodes (still by priority). Ejecting everything
//    would turn a partial outage into a total one.
// The algorithm itself (choose()) only ever sees eligible candidates of one group.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "aiproxy/upstream/balancer.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::upstream {

class PriorityBalancer : public Balancer {
public:
    std::optional<std::size_t> pick(const PickContext& context) final;

    const UpstreamRuntime& runtime() const { return *runtime_; }

protected:
    explicit PriorityBalancer(std::shared_ptr<UpstreamRuntime> runtime);

    // Picks one of candidates: node indexes in ascending order, never empty, all of one
    // priority group, weight > 0, not excluded and (unless failing open) healthy.
    virtual std::size_t choose(std::span<const std::size_t> candidates,
                               const PickContext& context) = 0;

    NodeRuntime& node(std::size_t index) const { return runtime_->node(index); }
    int weight(std::size_t index) const { return runtime_->nodes()[index].weight; }

private:
    std::shared_ptr<UpstreamRuntime> runtime_;
    std::vector<std::vector<std::size_t>> groups_;  // weight > 0 only, highest priority first
    std::vector<std::size_t> candidates_;           // scratch, reused by every pick
};

}  // namespace aiproxy::upstream
