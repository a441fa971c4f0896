#pragma once
// RuntimeRegistry: the UpstreamRuntime of every upstream id, kept across snapshots
// (ARCHITECTURE.md section 3). A snapshot build asks for each upstream's runtime: the same
// object comes back while the upstream's nodes and checks are unchanged, so health, latency and
// in-flight counts survive reloads and admin writes; any change to them gives a fresh runtime
// (node indexes and thresholds would no longer mean the same thing). Control thread only.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::upstream {

class RuntimeRegistry {
public:
    // The runtime for upstream: the current one if it matches(), else a new one that replaces
    // it. Call it for a snapshot that is going to be applied (after validation).
    std::shared_ptr<UpstreamRuntime> obtain(const config::UpstreamConfig& upstream);

    // Forgets the runtimes of ids not in upstreams (after a snapshot that dropped them).
    // Workers still holding one keep it alive until they let go.
    void retain(const std::vector<config::UpstreamConfig>& upstreams);

    // For the admin health endpoint; null for an unknown id.
    std::shared_ptr<UpstreamRuntime> find(std::string_view id) const;

    std::size_t size() const { return by_id_.size(); }

private:
    std::unordered_map<std::string, std::shared_ptr<UpstreamRuntime>> by_id_;
};

}  // namespace aiproxy::upstream
