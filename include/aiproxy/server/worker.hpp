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
#include <boost/asio/steady_timer.hpp>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/http/connection_tracker.hpp"
#include "aiproxy/http/http_session.hpp"
#include "aiproxy/observe/access_log.hpp"
#include "aiproxy/server/snapshot.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace aiproxy::server {

// Process-wide handles the workers record into, resolved once at startup.
struct ServerMetrics {
    ai::DataPathMetrics data_path;
    metrics::CounterCell* unrouted = nullptr;  // requests_total{route="",upstream="",4xx}
    observe::AccessLog* access_log = nullptr;  // null when log.access_log is off
    spdlog::logger* data_path_log = nullptr;   // asynchronous; null: spdlog's default
};

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
    // Thread-safe: stops accepting and keep-alive; on_drained runs on this worker when the last
    // connection is gone.
    void drain(std::function<void()> on_drained);
    // Thread-safe: ends the event loop (in-flight work is abandoned) and joins the thread.
    void stop();

    http::awaitable<void> handle(http::ClientRequest& request, http::ResponseSink& sink) override;
    http::awaitable<bool> admitHead(http::ClientRequest& request,
                                    http::ResponseSink& sink) override;
    std::string newRequestId() override;

private:
    void applySnapshot(std::shared_ptr<const Snapshot> snapshot);
    // Route matching with the request's vars; real_ip resolves the client first. json_body is
    // asked only when a candidate route has a post_arg condition.
    std::optional<router::RouteMatch> matchRoute(
        const Snapshot& snapshot, http::ClientRequest& request,
        const std::function<const nlohmann::json*()>& json_body) const;
    http::awaitable<void> answerUnrouted(http::ClientRequest& request, http::ResponseSink& sink,
                                         std::chrono::steady_clock::time_point started);
    // The access phase (ip-restriction, key-auth): the answer that refuses the request, or
    // nullopt; `consumer` gets the authenticated consumer's name.
    std::optional<http::Response> admissionRefusal(const Snapshot& snapshot,
                                                   std::size_t route_index,
                                                   const ai::AiProxyRoute& route,
                                                   http::ClientRequest& request,
                                                   std::string* consumer = nullptr) const;
    // The traffic phase: the route's limits, then those of the consumer's group (`group`, may
    // be null), limit-req's delay, max_concurrent's queue. Returns false when the request was
    // answered (refused) or its client left while it waited; `slot` then holds nothing.
    http::awaitable<bool> applyLimits(http::ClientRequest& request, http::ResponseSink& sink,
                                      const ai::AiProxyRoute& route,
                                      const plugins::RouteLimits& limits,
                                      const plugins::RouteLimits* group, std::string_view consumer,
                                      plugins::Admission& admission,
                                      plugins::Admission& group_admission, plugins::GateSlot& slot,
                                      std::chrono::steady_clock::time_point started);
    http::awaitable<void> refuse(http::ClientRequest& request, http::ResponseSink& sink,
                                 const ai::AiProxyRoute& route, const plugins::RouteLimits& limits,
                                 plugins::Rejection&& rejection,
                                 std::chrono::steady_clock::time_point started);
    // An answer the gateway gives before any upstream (ip-restriction, key-auth, a limit): with
    // X-Request-Id, counted in requests_total{route, upstream ""}, and logged.
    http::awaitable<void> sendRefusal(http::ClientRequest& request, http::ResponseSink& sink,
                                      const ai::AiProxyRoute& route, http::Response response,
                                      std::chrono::steady_clock::time_point started);
    void recordRequest(const ai::AiProxyRoute& route, const ai::ProxyResult& result,
                       const http::ResponseSink& sink,
                       std::chrono::steady_clock::time_point started);
    void writeAccessLog(const http::ClientRequest& request, const ai::AiProxyRoute* route,
                        const ai::ProxyResult* result, const http::ResponseSink& sink,
                        std::chrono::steady_clock::time_point started);
    // Hands the batched access-log lines to the log's writer thread.
    void flushAccessLog();

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
    const ServerMetrics* metrics_;
    ai::WorkerServices services_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::mt19937_64 random_;
    // Access-log lines of this worker not yet handed to the log: one hand-over (a queue push
    // and a wake-up of the writer thread) per batch instead of per request. A batch goes when
    // it is big enough, at the latest kAccessLogDelay after its first line, and at stop().
    std::string access_log_batch_;
    boost::asio::steady_timer access_log_timer_{io_};
    bool access_log_timer_armed_ = false;
    std::thread thread_;
};

}  // namespace aiproxy::server
