#include "aiproxy/upstream/upstream_runtime.hpp"

#include "aiproxy/upstream/hash_ring.hpp"
#include "aiproxy/upstream/session_pins.hpp"

namespace aiproxy::upstream {

std::string nodeAddress(const config::NodeConfig& node) {
    bool v6 = node.host.find(':') != std::string::npos;
    std::string address = v6 ? "[" + node.host + "]" : node.host;
    address += ':';
    address += std::to_string(node.port);
    return address;
}

NodeRuntime::NodeRuntime(const config::NodeConfig& node, const config::HealthChecksConfig& checks,
                         Clock::duration latency_decay)
    : config_(node), address_(nodeAddress(node)), latency_(latency_decay), health_(checks) {}

UpstreamRuntime::UpstreamRuntime(const config::UpstreamConfig& upstream)
    : UpstreamRuntime(upstream.id, upstream.nodes, upstream.checks, Options{}) {}

UpstreamRuntime::UpstreamRuntime(std::string id, std::vector<config::NodeConfig> nodes,
                                 config::HealthChecksConfig checks, Options options)
    : id_(std::move(id)), nodes_(std::move(nodes)), checks_(std::move(checks)) {
    node_state_.reserve(nodes_.size());
    for (const auto& node : nodes_) {
        node_state_.push_back(std::make_shared<NodeRuntime>(node, checks_, options.latency_decay));
    }
}

UpstreamRuntime::UpstreamRuntime(std::string id,
                                 std::vector<std::shared_ptr<NodeRuntime>> shared_nodes)
    : id_(std::move(id)), node_state_(std::move(shared_nodes)) {
    nodes_.reserve(node_state_.size());
    for (const auto& node : node_state_)
        nodes_.push_back(node->config());
}

UpstreamRuntime::~UpstreamRuntime() = default;

std::shared_ptr<UpstreamRuntime> UpstreamRuntime::reuseOrCreate(
    const config::UpstreamConfig& upstream, const std::shared_ptr<UpstreamRuntime>& previous) {
    if (previous && previous->matches(upstream)) return previous;
    return std::make_shared<UpstreamRuntime>(upstream);
}

bool UpstreamRuntime::matches(const config::UpstreamConfig& upstream) const {
    return upstream.nodes == nodes_ && upstream.checks == checks_;
}

std::shared_ptr<const HashRing> UpstreamRuntime::hashRing() const {
    std::call_once(ring_once_, [this] { ring_ = std::make_shared<const HashRing>(nodes_); });
    return ring_;
}

SessionPins& UpstreamRuntime::sessionPins() const {
    std::call_once(pins_once_, [this] {
        std::vector<int> weights;
        weights.reserve(nodes_.size());
        for (const auto& node : nodes_)
            weights.push_back(node.weight);
        pins_ = std::make_unique<SessionPins>(std::move(weights));
    });
    return *pins_;
}

std::vector<NodeReport> UpstreamRuntime::report(Clock::time_point now,
                                                WallClock::time_point wall_now) const {
    std::vector<NodeReport> reports;
    reports.reserve(node_state_.size());
    for (const auto& node : node_state_) {
        reports.push_back(NodeReport{.address = node->address(),
                                     .weight = node->config().weight,
                                     .priority = node->config().priority,
                                     .in_flight = node->inFlight(),
                                     .latency_seconds = node->latency().seconds(now),
                                     .health = node->health().view(now, wall_now)});
    }
    return reports;
}

}  // namespace aiproxy::upstream
