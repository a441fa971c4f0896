#pragma once
// ConnectionPool: idle keep-alive connections of one worker, keyed by upstream and node. Only a
// connection whose response was read completely is given back (the caller's duty), so a taken
// connection is always at a message boundary. Most recently used first: warm connections stay
// warm and the oldest age out.

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "aiproxy/common/metric_cells.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/upstream_connection.hpp"

namespace aiproxy::upstream {

class ConnectionPool {
public:
    // An idle connection for key that is still usable, or nullptr.
    std::unique_ptr<UpstreamConnection> take(const std::string& key);
    // Keeps the connection if the pool settings allow; otherwise closes it.
    void give(std::unique_ptr<UpstreamConnection> connection,
              const config::KeepalivePool& settings);
    std::size_t idleCount() const;
    // aiproxy_upstream_connections{state="idle"}, written in this worker's slot.
    void setIdleGauge(metrics::GaugeCell* idle, std::size_t slot) {
        idle_gauge_ = idle;
        slot_ = slot;
    }

private:
    void changeIdle(std::int64_t delta) {
        if (idle_gauge_) idle_gauge_->add(slot_, delta);
    }
    metrics::GaugeCell* idle_gauge_ = nullptr;
    std::size_t slot_ = 0;
    std::unordered_map<std::string, std::deque<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace aiproxy::upstream
