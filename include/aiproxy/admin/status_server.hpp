#pragma once
// StatusServer: the operator's endpoint on its own thread (status.listen, loopback by default,
// no key): GET /metrics (Prometheus text 0.0.4), GET /healthz (the process answers), GET /readyz
// (config loaded, listeners bound, not draining), and the live status page: GET / (the page,
// admin/status_page.hpp) and GET /status.json (what it polls). Small by design: requests are
// header-only, bounded in size and time, and answered from state read atomically.

#include <atomic>
#include <cstdint>
#include <functional>
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
    // Builds /status.json on the status thread; empty: no status page (404).
    using StatusJson = std::function<std::string()>;

    // Binds host:port at once (throws std::runtime_error naming the address on failure).
    StatusServer(boost::asio::io_context& context, const std::string& host, std::uint16_t port,
                 const observe::MetricsRegistry& registry, const StatusState& state,
                 StatusJson status_json = {});
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
