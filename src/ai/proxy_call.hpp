#pragma once
// ProxyCall: one request through the proxy stage. run() is the loop (plan, attempt through the
// upstream client, relay, account); an attempt runs in two phases, up to its commit point and
// after it (relay.cpp), and with hedging several attempts race through the first (race(),
// hedge_race.cpp); metrics and usage live in accounting.cpp. Private to the ai library.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/ai/failure_rules.hpp"
#include "aiproxy/ai/hedge_plan.hpp"
#include "aiproxy/ai/usage.hpp"
#include "attempt_run.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace aiproxy::ai {

// The attempts of one request that may be in flight together: the first and its hedges.
inline constexpr std::size_t kMaxRuns = 4;
using AttemptRuns = std::array<std::optional<AttemptRun>, kMaxRuns>;

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
    AttemptRun& launch(AttemptRuns& runs, std::size_t index, const AttemptTarget& target,
                       const AttemptPlan& plan, bool hedge);
    http::awaitable<void> precommit(AttemptRun& run, const AttemptPlan& plan);
    AttemptReport settle(AttemptRun& run, AttemptReport report);
    void settleFailed(AttemptRun& run, AttemptReport& last, std::optional<KeptResponse>& kept);
    void reportFailure(AttemptRun& run, const AttemptReport& report);
    void recordAttempt(const AttemptRun& run, const AttemptReport& report);
    void logFailure(const AttemptTarget& target, const AttemptReport& report, int attempt);
    http::awaitable<void> answerFailure(const AttemptReport& last, std::optional<KeptResponse> kept,
                                        const upstream::Upstream& upstream, int attempts,
                                        bool deadline_spent);
    http::awaitable<void> answerError(unsigned status, const std::string& message,
                                      std::string_view type, std::string_view code,
                                      const upstream::Upstream& upstream);
    void addGatewayHeaders(http::bhttp::fields& header, const std::string& upstream_id,
                           std::string_view answering = {});
    void cancelInFlight();

    // hedge_race.cpp
    http::awaitable<AttemptRun*> race(AttemptRuns& runs, AttemptPlan& plan, HedgePlan& hedges,
                                      AttemptReport& last, std::optional<KeptResponse>& kept);
    http::awaitable<void> raceOne(AttemptRun& run, const AttemptPlan& plan);
    bool sendHedge(AttemptRuns& runs, AttemptPlan& plan, HedgePlan& hedges);
    bool anotherInFlight(const AttemptRun& run) const;
    http::awaitable<void> drainRace(AttemptRuns& runs);

    // relay.cpp
    http::awaitable<void> relayUntilCommit(AttemptRun& run, const AttemptPlan& plan);
    http::awaitable<AttemptReport> relayCommitted(AttemptRun& run);
    http::awaitable<AttemptReport> keepRetryableAnswer(AttemptRun& run);
    http::awaitable<void> readWhole(AttemptRun& run);
    http::awaitable<AttemptReport> relayWhole(AttemptRun& run);
    bool rewritesWholeAnswer(const http::bhttp::response_header<>& response) const;
    http::awaitable<BodyStep> nextStep(AttemptRun& run, Clock::time_point deadline);
    http::awaitable<void> readInBackground(AttemptRun& run, Clock::time_point deadline);
    http::awaitable<void> settleRead(AttemptRun& run);
    http::bhttp::response_header<> clientHeader(
        const http::bhttp::response_header<>& upstream_header, const upstream::Upstream& upstream,
        bool event_stream, double ttft_seconds, const PreparedRequest& prepared);
    void responseRead(AttemptRun& run);
    void latencyAtCommit(AttemptRun& run);
    void latencyAtEnd(AttemptRun& run, Clock::time_point sent_at, Clock::time_point tokens_from,
                      const Usage& usage);

    // accounting.cpp
    void account(const PreparedRequest& prepared);

    spdlog::logger& log() const;
    std::optional<std::uint64_t> admitFailureLine(const AttemptTarget& target);
    void count(metrics::CounterCell* cell);
    void countAt(const std::vector<metrics::CounterCell*>& cells, std::size_t slot);
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
    AttemptRuns* runs_ = nullptr;         // the attempts of run(), for a client that leaves
    BodyProcessor* processor_ = nullptr;  // of the attempt that committed
    std::optional<Usage> whole_usage_;    // of a plain answer read whole (relayWhole)
    std::size_t redactions_ = 0;          // ai-response-rewrite, in what the client got
    // Hedging only: wakes race() when an attempt's pre-commit phase ends or a hedge is due.
    std::optional<boost::asio::steady_timer> race_timer_;
    AttemptRun* race_winner_ = nullptr;  // the first run of the race to reach its commit point
    int attempts_so_far_ = 0;
    bool client_gone_ = false;
    bool retry_budget_spent_ = false;  // a retry was due and not sent
    std::string trace_;                // failed attempts, for X-AIProxy-Trace
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
