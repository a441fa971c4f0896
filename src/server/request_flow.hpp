#pragma once
// RequestFlow: one request from its head to its log line (ARCHITECTURE.md section 4): match a
// route, run its stages (plugins, then the proxy stage), answer refusals in the client's API
// shape, and hand the request's facts to the access log. Owned by a worker; the stages know
// nothing of workers and the worker nothing of any plugin.

#include <chrono>
#include <optional>
#include <random>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/observe/access_log_batch.hpp"
#include "aiproxy/server/snapshot.hpp"
#include "aiproxy/server/worker.hpp"

namespace aiproxy::server {

class RequestTracer;

class RequestFlow {
public:
    // metrics (may be null) and services outlive the flow.
    RequestFlow(const ServerMetrics* metrics, ai::WorkerServices& services,
                observe::AccessLogBatch& access_log)
        : metrics_(metrics),
          services_(services),
          access_log_(access_log),
          trace_ids_(std::random_device{}()) {}

    http::awaitable<void> handle(const Snapshot& snapshot, http::ClientRequest& request,
                                 http::ResponseSink& sink);
    // Expect: 100-continue: the stages that decide from the head run before the body is read.
    http::awaitable<bool> admitHead(const Snapshot& snapshot, http::ClientRequest& request,
                                    http::ResponseSink& sink);

private:
    // Route matching with the request's vars; real_ip resolves the client first. json_body is
    // asked only when a candidate route has a post_arg condition.
    std::optional<router::RouteMatch> matchRoute(
        const Snapshot& snapshot, http::ClientRequest& request,
        const std::function<const nlohmann::json*()>& json_body) const;
    http::awaitable<void> answerUnrouted(http::ClientRequest& request, http::ResponseSink& sink,
                                         std::chrono::steady_clock::time_point started,
                                         RequestTracer* tracer = nullptr);
    // Runs the route's stages in order; head_only stops at the first that needs the body.
    http::awaitable<http::StageVerdict> runStages(const CompiledRoute& route,
                                                  http::RequestContext& context, bool head_only);
    // An answer the gateway gives before any upstream (ip-restriction, key-auth, a limit): in
    // the client's API shape, with X-Request-Id, counted in requests_total{route, upstream ""}.
    http::awaitable<void> sendRefusal(const CompiledRoute& route, http::RequestContext& context);
    void writeAccessLog(const http::ClientRequest& request, const CompiledRoute* route,
                        const http::RequestContext* context, const http::ResponseSink& sink,
                        std::chrono::steady_clock::time_point started,
                        const RequestTracer* tracer = nullptr);

    const ServerMetrics* metrics_;
    ai::WorkerServices& services_;
    observe::AccessLogBatch& access_log_;
    std::mt19937_64 trace_ids_;  // trace and span ids of this worker's requests
};

}  // namespace aiproxy::server
