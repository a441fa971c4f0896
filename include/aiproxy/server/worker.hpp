#pragma once
// Worker: one thread with its own io_context, acceptors, connection pool, DNS cache and
// balancers (share nothing; ARCHITECTURE.md section 2). Other threads talk to it only by
// posting: applySnapshot, drain, stop.

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/http/connection_tracker.hpp"
#include "aiproxy/http/http_session.hpp"
#include "aiproxy/observe/access_log.hpp"
#include "aiproxy/observe/access_log_batch.hpp"
#include "aiproxy/observe/trace_exporter.hpp"
#include "aiproxy/server/snapshot.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace aiproxy::server {

// Process-wide handles the workers record into, resolved once at startup.
struct ServerMetrics {
    ai::DataPathMetrics data_path;
    metrics::CounterCell* unrouted = nullptr;          // requests_total{route="",upstream="",4xx}
    observe::AccessLog* access_log = nullptr;          // null when log.access_log is off
    spdlog::logger* data_path_log = nullptr;           // asynchronous; null: spdlog's default
    observe::TraceExporter* trace_exporter = nullptr;  // null when tracing is off
    double trace_sample_ratio = 1;                     // tracing.sample_ratio
};

class RequestFlow;

// Threads, acceptors, the snapshot and the connection loop; each request goes to a
// RequestFlow (request_flow.hpp), which runs the route's stages.
class Worker final : public http::RequestHandler {
public:
    // metrics (may be null) outlives the worker; index is also the worker's metrics slot.
    // tls (may be null: plain HTTP) outlives the worker and is shared by all workers.
    Worker(unsigned index, const http::SessionLimits& limits, std::size_t max_connections,
           std::atomic<std::size_t>& open_connections, const ServerMetrics* metrics,
           http::TlsContextHolder* tls = nullptr);
    ~Worker() override;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    boost::asio::io_context& context() { return io_; }
    void addAcceptor(http::tcp::acceptor acceptor);

    // Starts the thread with a first snapshot.
    void start(std::shared_ptr<const Snapshot> snapshot);
    // Thread-safe: posts to the worker; applied (if set) runs on the worker right after.
    void post(std::shared_ptr<const Snapshot> snapshot, std::function<void()> applied = {});
    // Thread-safe: stops accepting and keep-alive; on_started runs on this worker once it is
    // draining (every answer from then on says Connection: close), on_drained when the last
    // connection is gone.
    void drain(std::function<void()> on_drained, std::function<void()> on_started = {});
    // Thread-safe: ends the event loop (in-flight work is abandoned) and joins the thread.
    void stop();

    http::awaitable<void> handle(http::ClientRequest& request, http::ResponseSink& sink) override;
    http::awaitable<bool> admitHead(http::ClientRequest& request,
                                    http::ResponseSink& sink) override;
    std::string newRequestId() override;

private:
    void applySnapshot(std::shared_ptr<const Snapshot> snapshot);

    // An io_context whose unfinished work (sessions, streams, timers still pending at stop) can
    // be destroyed while the worker's other members are still alive: the coroutine frames it
    // holds refer to the tracker, the pool and the snapshot, which would otherwise be gone by
    // the time the io_context's own destructor destroys them.
    class Context : public boost::asio::io_context {
    public:
        using boost::asio::io_context::io_context;
        void abandonPendingWork() { shutdown(); }
    };

    unsigned index_;
    Context io_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    const http::SessionLimits& limits_;
    std::size_t max_connections_;
    std::atomic<std::size_t>& open_connections_;
    http::TlsContextHolder* tls_;
    std::vector<std::unique_ptr<http::tcp::acceptor>> acceptors_;
    http::ConnectionTracker tracker_;
    upstream::ConnectionPool pool_{io_.get_executor()};
    upstream::DnsCache dns_;
    upstream::BalancerRegistry balancers_;
    ai::WorkerServices services_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::mt19937_64 random_;
    observe::AccessLogBatch access_log_;  // flushed at stop()
    std::unique_ptr<RequestFlow> flow_;
    std::thread thread_;
};

}  // namespace aiproxy::server
