#pragma once
// ProxyCall: one request through the proxy stage. run() is the loop (plan, attempt through the
// upstream client, relay, account); the relay's parts live in relay.cpp, metrics and usage in
// accounting.cpp. Private to the ai library.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/ai/failure_rules.hpp"
#include "aiproxy/ai/usage.hpp"
#include "aiproxy/upstream/attempt_guard.hpp"
#include "aiproxy/upstream/http_client.hpp"
#include "body_processor.hpp"
#include "upstream_request.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace aiproxy::ai {

enum class StreamOutcome { None, Complete, ClientCancel, UpstreamCut };

// An ewma upstream's latency_strategy (config::UpstreamConfig).
enum class LatencyStrategy { Ttft, Tpot, Total };

// One step of a stream's relay: an upstream read, or, with ai-response-rewrite, the upstream
// paused past max_holdback_ms while text was held (flushed: BodyProcessor::flushHeld() is due).
struct BodyStep {
    upstream::BodyRead read;
    bool flushed = false;
};

// A retryable answer kept in case every later attempt fails without one (section 4.7).
struct KeptResponse {
    unsigned status = 0;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;  // end-to-end: Retry-After, quotas
    std::string body;
    Translation translation = Translation::None;  // the client speaks another API
};

struct AttemptReport {
    AttemptOutcome outcome;
    std::string detail;          // why the attempt failed, for logs and the final error
    bool committed = false;      // the client has seen bytes of this attempt's response
    bool client_cancel = false;  // the client left before the commit point: not the node's fault
    std::optional<KeptResponse> kept;
    unsigned status = 0;  // the upstream's status, when a response header arrived
    std::optional<double> time_to_first_token;  // seconds from sending to the first body byte
    StreamOutcome stream = StreamOutcome::None;
    std::optional<std::size_t> trace_span;  // the attempt's span, when the request is traced
};

class ProxyCall {
public:
    ProxyCall(const AiProxyRoute& route, http::RequestContext& context, WorkerServices& services);
    http::awaitable<void> run();
    // After run(): the request's metrics (requests, duration, tokens, cost, stream outcome).
    void record();

private:
    // proxy_call.cpp
    std::size_t slotOf(const AttemptTarget& target) const;
    std::string hashKey(const upstream::BalancedSet& set) const;
    std::string bodyField(std::string_view name) const;
    const PreparedRequest& prepare(const upstream::Upstream& upstream, std::size_t slot);
    http::awaitable<AttemptReport> attempt(const AttemptTarget& target, const AttemptPlan& plan);
    void reportFailure(const AttemptReport& report);
    void recordAttempt(const AttemptTarget& target, const AttemptReport& report,
                       Clock::time_point started);
    void logFailure(const AttemptTarget& target, const AttemptReport& report, int attempt);
    http::awaitable<void> answerFailure(const AttemptReport& last, std::optional<KeptResponse> kept,
                                        const upstream::Upstream& upstream, int attempts,
                                        bool deadline_spent);
    http::awaitable<void> answerError(unsigned status, const std::string& message,
                                      std::string_view type, std::string_view code,
                                      const upstream::Upstream& upstream);
    void addGatewayHeaders(http::bhttp::fields& header, const std::string& upstream_id,
                           std::string_view answering = {});

    // relay.cpp
    http::awaitable<AttemptReport> relay(upstream::HttpExchange& exchange,
                                         const AttemptTarget& target, const AttemptPlan& plan,
                                         const PreparedRequest& prepared,
                                         Clock::time_point deadline);
    http::awaitable<AttemptReport> keepRetryableAnswer(upstream::HttpExchange& exchange,
                                                       Clock::time_point deadline);
    http::awaitable<AttemptReport> relayWhole(upstream::HttpExchange& exchange,
                                              const upstream::Upstream& upstream,
                                              const PreparedRequest& prepared,
                                              Clock::time_point deadline);
    bool rewritesWholeAnswer(const http::bhttp::response_header<>& response) const;
    http::awaitable<BodyStep> nextStep(upstream::HttpExchange& exchange,
                                       Clock::time_point deadline);
    http::awaitable<void> readInBackground(upstream::HttpExchange& exchange,
                                           Clock::time_point deadline);
    http::awaitable<void> settleRead(upstream::HttpExchange& exchange);
    http::bhttp::response_header<> clientHeader(
        const http::bhttp::response_header<>& upstream_header, const upstream::Upstream& upstream,
        bool event_stream, double ttft_seconds, const PreparedRequest& prepared);
    void responseRead();
    void latencyAtCommit();
    void latencyAtEnd(Clock::time_point sent_at, Clock::time_point tokens_from, const Usage& usage);

    // accounting.cpp
    void account(const PreparedRequest& prepared);

    spdlog::logger& log() const;
    std::optional<std::uint64_t> admitFailureLine(const AttemptTarget& target);
    void count(metrics::CounterCell* cell);
    const DataPathMetrics& metricsOf() const;

    const AiProxyRoute& route_;
    http::RequestContext& context_;
    http::ClientRequest& request_;
    http::ResponseSink& sink_;
    WorkerServices& services_;
    ClientApi client_api_ = ClientApi::OpenAiOther;
    std::optional<Clock::time_point> deadline_;             // the route's `deadline`, if set
    std::vector<std::optional<PreparedRequest>> prepared_;  // by upstream slot
    std::shared_ptr<upstream::Balancer> primary_balancer_;  // kept for the request's life
    std::shared_ptr<upstream::Balancer> fallback_balancer_;
    std::optional<BodyProcessor> processor_;  // of the attempt that committed
    std::optional<Usage> whole_usage_;        // of a plain answer read whole (relayWhole)
    std::size_t redactions_ = 0;              // ai-response-rewrite, in what the client got
    // A stream with ai-response-rewrite flushes held text while its next read is under way
    // (nextStep): the read runs on its own, and the timer wakes the relay for either.
    std::optional<upstream::BodyRead> read_result_;
    bool read_running_ = false;
    std::optional<boost::asio::steady_timer> pause_timer_;
    Clock::time_point last_read_at_{};
    upstream::AttemptGuard guard_;                // the attempt in progress
    upstream::HttpExchange* exchange_ = nullptr;  // the attempt in progress, once it runs
    int attempts_so_far_ = 0;
    bool client_gone_ = false;
    bool retry_budget_spent_ = false;                           // a retry was due and not sent
    LatencyStrategy latency_strategy_ = LatencyStrategy::Ttft;  // of the attempt's upstream
    std::string trace_;  // failed attempts, for X-AIProxy-Trace
    // For metrics, beside context_.outcome.
    std::size_t upstream_slot_ = 0;
    double upstream_seconds_ = 0;  // time spent waiting on upstreams (for the overhead metric)
    StreamOutcome stream_ = StreamOutcome::None;
    const std::string* priced_model_ = nullptr;  // the price table's name for the served model
};

double secondsSince(Clock::time_point start);
// " (N similar line(s) for this node left out)" after a throttled log line; "" for none.
std::string suppressedNote(std::uint64_t left_out);

}  // namespace aiproxy::ai
