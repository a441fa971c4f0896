#pragma once
// ActiveHealthChecker: probes the nodes of upstreams that configure checks.active (APISIX field
// names) from the control thread's io_context and reports every result to the node's
// NodeHealth, which decides what it means (see node_health.hpp).
//
// Each node has its own loop: probe, record, wait healthy.interval (or unhealthy.interval while
// the node is marked unhealthy), repeat. A probe is one short connection: `tcp` only connects;
// `http`/`https` send `http_method http_path` with Host (checks.active.host, else the node's
// host), req_headers, the caller's extra headers (the upstream's auth) and Connection: close,
// then read the status line and headers. The whole probe, connect included, runs under
// checks.active.timeout. A connect, TLS or read failure is a TCP failure, running out of time
// a timeout, a status in healthy.http_statuses a success and one in unhealthy.http_statuses an
// HTTP failure. Probe traffic never reaches a model: point http_path at something cheap such as
// /v1/models.
//
// Threading: every member function must be called on the io_context's thread (or while it is
// not running). stop() cancels the timers and in-flight probes; their loops end as soon as the
// io_context runs them, without recording anything further.

#include <cstddef>
#include <memory>
#include <vector>

#include "aiproxy/config/config.hpp"

namespace boost::asio {
class io_context;
}

namespace aiproxy::upstream {

class UpstreamRuntime;

struct ActiveCheckTarget {
    // Its checks().active says how to probe; targets without it are ignored. The nodes probed
    // and the health they report to are the runtime's.
    std::shared_ptr<UpstreamRuntime> runtime;
    // Sent with every probe of this upstream, after req_headers: the upstream's auth headers.
    config::StringPairs extra_headers;
};

class ActiveHealthChecker {
public:
    explicit ActiveHealthChecker(boost::asio::io_context& io);
    ~ActiveHealthChecker();  // stop()
    ActiveHealthChecker(const ActiveHealthChecker&) = delete;
    ActiveHealthChecker& operator=(const ActiveHealthChecker&) = delete;

    // Makes targets the set being probed: a target whose runtime and extra headers are the same
    // as before keeps its loops (and their timing); new ones start probing at once; the loops of
    // targets no longer present are stopped. Call after every snapshot change.
    void update(std::vector<ActiveCheckTarget> targets);

    // Stops every loop. update() may start new ones afterwards.
    void stop();

    // Node loops currently running (for tests and the status page).
    std::size_t loops() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aiproxy::upstream
