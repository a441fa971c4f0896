#pragma once
// ConnectionPool: idle keep-alive connections of one worker, keyed by upstream and node. Only a
// connection whose response was read completely is given back (the caller's duty), so a taken
// connection is always at a message boundary. Most recently used first: warm connections stay
// warm and the oldest age out.
//
// Idle connections do not wait for the next take() to be judged: a sweep closes the ones past
// keepalive_pool.idle_timeout, and with them the ones their peer closed (CLOSE_WAIT) or wrote
// to, and retain() drops the nodes a new snapshot no longer has. Without it a quiet or deleted
// upstream would keep its sockets until the process exits. The sweep wakes when the first idle
// connection expires, not on a period: an idle gateway makes no system calls (a sweep every
// second polled every pooled socket: ~30 polls a second after a benchmark). A connection its
// peer closed earlier is found by take() (which polls one idle for over a second) or by the
// retry of a stale connection.

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/steady_timer.hpp>

#include "aiproxy/common/metric_cells.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/upstream/upstream_connection.hpp"

namespace aiproxy::upstream {

class ConnectionPool {
public:
    // sweep_interval: the least time between two sweeps.
    explicit ConnectionPool(const common::net::any_io_executor& executor,
                            std::chrono::milliseconds sweep_interval = std::chrono::seconds(1))
        : sweep_timer_(executor), sweep_interval_(sweep_interval) {}
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    // An idle connection for key that is still usable, or nullptr.
    std::unique_ptr<UpstreamConnection> take(const std::string& key);
    // Keeps the connection if the pool settings allow; otherwise closes it.
    void give(std::unique_ptr<UpstreamConnection> connection,
              const config::KeepalivePool& settings);
    // Closes the idle connections whose pool key is not in `keys` (their node or upstream left
    // the configuration).
    void retain(const std::unordered_set<std::string>& keys);
    // Closes every idle connection and stops the sweep (worker shutdown).
    void clear();
    // aiproxy_upstream_connections{state="idle"}, written in this worker's slot.
    void setIdleGauge(metrics::GaugeCell* idle, std::size_t slot) {
        idle_gauge_ = idle;
        slot_ = slot;
    }
    // When the next sweep runs; time_point::max() when none is due (nothing idle).
    Clock::time_point nextSweep() const;

private:
    void changeIdle(std::int64_t delta) {
        if (idle_gauge_) idle_gauge_->add(slot_, delta);
    }
    void armSweep(Clock::time_point when);
    void sweep();

    boost::asio::steady_timer sweep_timer_;
    std::chrono::milliseconds sweep_interval_;
    bool sweep_armed_ = false;
    metrics::GaugeCell* idle_gauge_ = nullptr;
    std::size_t slot_ = 0;
    std::unordered_map<std::string, std::deque<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace aiproxy::upstream
