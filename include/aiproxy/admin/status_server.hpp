#pragma once
// StatusServer: the operator's endpoint on the control thread (status.listen, loopback by
// default, no key): GET /metrics (Prometheus text 0.0.4), GET /healthz (the process answers),
// GET /readyz (config loaded, listeners bound, not draining). Small by design: requests are
// header-only, bounded in size and time, and answered from state read atomically.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "aiproxy/observe/metrics_registry.hpp"

namespace aiproxy::admin {

struct StatusState {
    std::atomic<bool> ready{false};     // set once listeners are bound and workers run
    std::atomic<bool> draining{false};  // set at the start of a graceful shutdown
};

class StatusServer {
public:
    // Binds host:port at once (throws std::runtime_error naming the address on failure).
    StatusServer(boost::asio::io_context& context, const std::string& host, std::uint16_t port,
                 const observe::MetricsRegistry& registry, const StatusState& state);
    ~StatusServer();
    StatusServer(const StatusServer&) = delete;
    StatusServer& operator=(const StatusServer&) = delete;

    std::uint16_t port() const;
    void start();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aiproxy::admin
