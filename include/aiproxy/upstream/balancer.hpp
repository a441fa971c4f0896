#pragma once
// The seam every balancing algorithm plugs into (ARCHITECTURE.md section 1: "pluggable balancer").
// A Balancer belongs to one worker; the per-node state it reads (health, in-flight counts,
// latency) lives in an UpstreamRuntime shared by all workers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "aiproxy/config/config.hpp"

namespace aiproxy::upstream {

using Clock = std::chrono::steady_clock;

class UpstreamRuntime;

// What a pick found out besides the node, for the caller to act on.
struct PickNotes {
    // The node is half-open and this pick won its single trial: hand `trial = true` to the
    // AttemptGuard so an attempt that ends without an outcome gives the trial back.
    bool trial = false;
    // Every node of the upstream was ejected or unhealthy, so the pick ignored health.
    bool failed_open = false;
    // This pick started a fail-open episode (true once per episode across all workers): log it.
    bool fail_open_started = false;
};

struct PickContext {
    // excluded[i] is true for nodes this request already tried or that are unavailable.
    // Shorter than the node list (or empty) means "not excluded" for the rest.
    const std::vector<bool>& excluded;
    // chash: the request's hash key (see chashKey()); ignored by the other balancers.
    std::string_view hash_key{};
    // Health and latency are judged at this time (tests inject a fake one).
    Clock::time_point now = Clock::now();
    // Optional out-parameter.
    PickNotes* notes = nullptr;
    // False: when every node is ejected or unhealthy, return nullopt instead of failing open,
    // so the caller can try a healthy fallback upstream first.
    bool allow_fail_open = true;
};

class Balancer {
public:
    virtual ~Balancer() = default;

    /// Picks a node index for one attempt. Called on the owning worker only; never blocks.
    /// Returns nullopt when no node is eligible: every node has weight 0 or is excluded, or the
    /// ones not excluded are ejected while an excluded one is healthy (the caller then moves on
    /// to the fallback). When every node is ejected, picks among them anyway (fail open).
    virtual std::optional<std::size_t> pick(const PickContext& context) = 0;
};

struct BalancerOptions {
    // Seed of the balancer's random source (least_conn and ewma); 0 = from std::random_device.
    std::uint64_t seed = 0;
};

// Builds the balancer named by the upstream's `type` (validated by the config loader; an unknown
// type gets round robin). runtime must describe the same nodes (UpstreamRuntime::matches());
// null makes a private one, which is right only for tests and single-worker tools.
std::unique_ptr<Balancer> makeBalancer(const config::UpstreamConfig& upstream,
                                       std::shared_ptr<UpstreamRuntime> runtime = nullptr,
                                       BalancerOptions options = {});

}  // namespace aiproxy::upstream
