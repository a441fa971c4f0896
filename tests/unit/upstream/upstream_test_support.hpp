#pragma once
// Builders shared by the upstream unit tests: node lists, runtimes, a fake clock origin and
// pick counting.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/balancer.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::upstream::test {

using namespace std::chrono_literals;

// Far from the steady clock's epoch, so "now minus a minute" stays meaningful.
inline const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours{1000};

inline config::NodeConfig node(std::string host, int weight = 1, int priority = 0,
                               std::uint16_t port = 80) {
    return config::NodeConfig{
        .host = std::move(host), .port = port, .weight = weight, .priority = priority};
}

// n nodes "10.0.0.<i>:80" of weight 1.
inline std::vector<config::NodeConfig> nodes(int n) {
    std::vector<config::NodeConfig> out;
    for (int i = 0; i < n; ++i)
        out.push_back(node("10.0.0." + std::to_string(i + 1)));
    return out;
}

inline config::UpstreamConfig upstreamOf(std::vector<config::NodeConfig> list,
                                         std::string type = "roundrobin") {
    config::UpstreamConfig upstream;
    upstream.id = "u";
    upstream.nodes = std::move(list);
    upstream.type = std::move(type);
    return upstream;
}

inline std::shared_ptr<UpstreamRuntime> runtimeOf(const config::UpstreamConfig& upstream) {
    return std::make_shared<UpstreamRuntime>(upstream);
}

// Passive failures up to the tcp threshold (default 2): the node is ejected at now.
inline void eject(UpstreamRuntime& runtime, std::size_t node, Clock::time_point now) {
    auto& health = runtime.node(node).health();
    for (int i = 0; i < 2; ++i)
        health.recordFailure(FailureKind::Tcp, "connection refused", now);
}

// How often each node index was picked over `picks` picks (key -1: no node).
inline std::map<long, int> countPicks(Balancer& balancer, int picks,
                                      const std::vector<bool>& excluded = {},
                                      Clock::time_point now = kT0) {
    std::map<long, int> counts;
    for (int i = 0; i < picks; ++i) {
        auto picked = balancer.pick({.excluded = excluded, .now = now});
        counts[picked ? static_cast<long>(*picked) : -1L]++;
    }
    return counts;
}

}  // namespace aiproxy::upstream::test
