#pragma once
// Upstream: the immutable, ready-to-use form of one `upstreams[]` entry, shared by all workers
// through the snapshot. Building it resolves defaults and prepares the TLS context once, so the
// data path never parses or allocates per-upstream settings.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace boost::asio::ssl {
class context;
}

namespace aiproxy::upstream {

struct Node {
    std::string host;  // as configured; IPv6 without brackets
    std::uint16_t port = 0;
    int weight = 1;
    std::string address;      // "host:port", "[v6]:port": logs, pool keys, headers
    std::string host_header;  // Host value: port omitted when it is the scheme's default
};

class Upstream;

// One endpoint a balancer can pick: node `node` of `upstream`.
struct Member {
    const Upstream* upstream = nullptr;
    std::size_t node = 0;
};

// What one balancer chooses among. An upstream is one (its nodes); an ai-proxy-multi route is
// another (one member per instance, each instance being an upstream of one node). Node i of the
// runtime and of balancing.nodes is members[i].
struct BalancedSet {
    std::string key;  // the balancer's identity in a worker: upstream id, or "route:<id>"
    config::UpstreamConfig balancing;  // nodes (weight, priority), type, hash_on, key
    std::shared_ptr<UpstreamRuntime> runtime;
    std::vector<Member> members;
};

class Upstream {
public:
    // Throws std::runtime_error when the TLS context cannot be set up (reported at load time).
    // runtime: the shared node state (UpstreamRuntime::reuseOrCreate); null makes a fresh one.
    explicit Upstream(config::UpstreamConfig config,
                      std::shared_ptr<UpstreamRuntime> runtime = nullptr);
    ~Upstream();
    Upstream(const Upstream&) = delete;
    Upstream& operator=(const Upstream&) = delete;

    const std::string& id() const { return config_.id; }
    const config::UpstreamConfig& config() const { return config_; }
    const std::vector<Node>& nodes() const { return nodes_; }
    bool tls() const { return config_.scheme == config::Scheme::Https; }
    // Only for https upstreams; thread-safe for creating connections once built.
    boost::asio::ssl::context* tlsContext() const { return tls_context_.get(); }
    const std::shared_ptr<UpstreamRuntime>& runtime() const { return set_.runtime; }
    const BalancedSet& balancedSet() const { return set_; }

private:
    config::UpstreamConfig config_;
    std::vector<Node> nodes_;
    BalancedSet set_;
    std::unique_ptr<boost::asio::ssl::context> tls_context_;
};

}  // namespace aiproxy::upstream
