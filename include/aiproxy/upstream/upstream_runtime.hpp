#pragma once
// UpstreamRuntime: the state of one upstream that must outlive snapshots and be shared by all
// workers (ARCHITECTURE.md section 3): per node, the in-flight attempt count, the latency
// estimate and the health circuit. Created on the control thread when a snapshot is built (and
// carried over to the next snapshot while the nodes and checks stay the same: reuseOrCreate()),
// held by shared_ptr from the snapshot's Upstream and from every worker's balancer. Everything a
// pick reads is an atomic, so workers never lock each other out.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/log_throttle.hpp"
#include "aiproxy/upstream/node_health.hpp"
#include "aiproxy/upstream/peak_ewma.hpp"
#include "aiproxy/upstream/retry_budget.hpp"

namespace aiproxy::upstream {

class HashRing;
class SessionPins;

// One node's shared counters, on its own cache line so workers updating different nodes do not
// contend.
class alignas(64) NodeRuntime {
public:
    NodeRuntime(const config::NodeConfig& node, const config::HealthChecksConfig& checks,
                Clock::duration latency_decay);
    NodeRuntime(const NodeRuntime&) = delete;
    NodeRuntime& operator=(const NodeRuntime&) = delete;

    const config::NodeConfig& config() const { return config_; }
    const std::string& address() const { return address_; }  // "host:port", "[v6]:port"
    NodeHealth& health() { return health_; }
    const NodeHealth& health() const { return health_; }
    PeakEwma& latency() { return latency_; }
    const PeakEwma& latency() const { return latency_; }
    // Attempts to this node in flight right now, over all workers (held by AttemptGuard).
    std::int64_t inFlight() const { return in_flight_.load(std::memory_order_relaxed); }
    void addInFlight(std::int64_t delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }
    // The data path's failure lines for this node, rate-limited across workers.
    LogThrottle& failureLog() { return failure_log_; }

private:
    std::atomic<std::int64_t> in_flight_{0};
    config::NodeConfig config_;
    std::string address_;
    PeakEwma latency_;
    NodeHealth health_;
    LogThrottle failure_log_;
};

// A node's health picture with its identity, for the admin health endpoint.
struct NodeReport {
    std::string address;
    int weight = 0;
    int priority = 0;
    std::int64_t in_flight = 0;
    double latency_seconds = 0;  // the peak-EWMA estimate now; 0 before the first sample
    NodeHealthView health;
};

class UpstreamRuntime {
public:
    struct Options {
        Clock::duration latency_decay = PeakEwma::kDefaultDecay;
    };

    explicit UpstreamRuntime(const config::UpstreamConfig& upstream);
    UpstreamRuntime(std::string id, std::vector<config::NodeConfig> nodes,
                    config::HealthChecksConfig checks, Options options);
    // A runtime over nodes that belong to other runtimes (ai-proxy-multi: one node per
    // instance), so health, in-flight counts and latency are the instances' own.
    UpstreamRuntime(std::string id, std::vector<std::shared_ptr<NodeRuntime>> shared_nodes);
    ~UpstreamRuntime();
    UpstreamRuntime(const UpstreamRuntime&) = delete;
    UpstreamRuntime& operator=(const UpstreamRuntime&) = delete;

    const std::string& id() const { return id_; }
    const std::vector<config::NodeConfig>& nodes() const { return nodes_; }
    const config::HealthChecksConfig& checks() const { return checks_; }
    std::size_t size() const { return node_state_.size(); }
    // Shared mutable state: every member of NodeRuntime is safe to use from any thread.
    NodeRuntime& node(std::size_t index) const { return *node_state_[index]; }
    const std::shared_ptr<NodeRuntime>& sharedNode(std::size_t index) const {
        return node_state_[index];
    }

    // True when upstream has the same nodes (host, port, weight, priority, in order) and
    // checks, so this runtime's state still describes it.
    bool matches(const config::UpstreamConfig& upstream) const;

    // previous when it matches(upstream) (its state carries over), else a fresh runtime.
    static std::shared_ptr<UpstreamRuntime> reuseOrCreate(
        const config::UpstreamConfig& upstream, const std::shared_ptr<UpstreamRuntime>& previous);

    // The consistent-hash ring of these nodes, built on first use and shared by all workers.
    std::shared_ptr<const HashRing> hashRing() const;
    // `hash_on: session`'s pins of these nodes, made on first use and shared by all workers.
    SessionPins& sessionPins() const;

    // Fail-open episodes: enterFailOpen() is true only for the call that starts one (across all
    // workers); leaveFailOpen() ends it when a pick finds an eligible node again.
    bool enterFailOpen() { return !fail_open_.exchange(true, std::memory_order_relaxed); }
    void leaveFailOpen() {
        if (fail_open_.load(std::memory_order_relaxed)) {
            fail_open_.store(false, std::memory_order_relaxed);
        }
    }
    bool failingOpen() const { return fail_open_.load(std::memory_order_relaxed); }

    // Retries on behalf of requests that started on this set (its policy is the config's).
    RetryBudget& retryBudget() const { return retry_budget_; }

    std::vector<NodeReport> report(Clock::time_point now, WallClock::time_point wall_now) const;

private:
    std::string id_;
    std::vector<config::NodeConfig> nodes_;
    config::HealthChecksConfig checks_;
    std::vector<std::shared_ptr<NodeRuntime>> node_state_;
    std::atomic<bool> fail_open_{false};
    mutable RetryBudget retry_budget_;
    mutable std::once_flag ring_once_;
    mutable std::shared_ptr<const HashRing> ring_;
    mutable std::once_flag pins_once_;
    mutable std::unique_ptr<SessionPins> pins_;
};

// "host:port", with brackets around an IPv6 host.
std::string nodeAddress(const config::NodeConfig& node);

}  // namespace aiproxy::upstream
