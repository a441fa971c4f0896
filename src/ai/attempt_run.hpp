#pragma once
// AttemptRun: the state of one attempt, from sending to the end of its relay. Hedging keeps two
// or more of them alive at once before the commit point (ProxyCall::race), so nothing of an
// attempt lives in ProxyCall itself: the winner's run is relayed on, the others are closed.
// Private to the ai library.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/upstream/attempt_guard.hpp"
#include "aiproxy/upstream/http_client.hpp"
#include "body_processor.hpp"
#include "upstream_request.hpp"

namespace aiproxy::ai {

// An ewma upstream's latency_strategy (config::UpstreamConfig).
enum class LatencyStrategy { Ttft, Tpot, Total };

// One step of a stream's relay: an upstream read, or, with ai-response-rewrite, the upstream
// paused past max_holdback_ms while text was held (flushed: BodyProcessor::flushHeld() is due).
struct BodyStep {
    upstream::BodyRead read;
    bool flushed = false;
};

enum class StreamOutcome { None, Complete, ClientCancel, UpstreamCut };

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
    std::string detail;            // why the attempt failed, for logs and the final error
    bool committed = false;        // the client has seen bytes of this attempt's response
    bool client_cancel = false;    // the client left before the commit point: not the node's fault
    bool hedge_cancelled = false;  // another attempt of the request committed first
    std::optional<KeptResponse> kept;
    unsigned status = 0;  // the upstream's status, when a response header arrived
    std::optional<double> time_to_first_token;  // seconds from sending to the first body byte
    StreamOutcome stream = StreamOutcome::None;
    std::optional<std::size_t> trace_span;  // the attempt's span, when the request is traced
};

// How the pre-commit phase of an attempt ended (ProxyCall::precommit).
enum class PreCommit {
    Running,
    Failed,  // `failure` says why; nothing reached the client
    Relay,   // reached the commit point: first_out is the first thing the client gets
    Whole,   // a plain answer read whole (`whole_body`), to be changed and sent in one piece
};

struct AttemptRun {
    AttemptRun(const AttemptTarget& target_, int number_, bool hedge_, const PreparedRequest& prep)
        : target(target_), number(number_), hedge(hedge_), prepared(&prep) {}

    AttemptTarget target;
    int number = 1;      // plan.attempts() when it was sent
    bool hedge = false;  // sent as a hedge while an earlier attempt was in flight
    const PreparedRequest* prepared;
    upstream::Clock::time_point started{};
    upstream::Clock::time_point deadline{};
    LatencyStrategy latency_strategy = LatencyStrategy::Ttft;
    std::optional<std::size_t> trace_span;
    // Held through the relay: the node counts the attempt in flight until it ends.
    upstream::AttemptGuard guard;
    std::optional<upstream::HttpExchange> exchange;
    std::optional<BodyProcessor> processor;
    // A stream with ai-response-rewrite flushes held text while its next read is under way
    // (nextStep): the read runs on its own, and the timer wakes the relay for either.
    std::optional<upstream::BodyRead> read_result;
    bool read_running = false;
    std::optional<boost::asio::steady_timer> pause_timer;
    upstream::Clock::time_point last_read_at{};

    // The pre-commit phase's result.
    PreCommit state = PreCommit::Running;
    bool event_stream = false;
    bool rewrites = false;       // the body changes on its way (no Content-Length for the client)
    std::string held;            // a stream's bytes up to the commit point
    std::string_view first_out;  // into held or the exchange's buffer (not read since)
    std::string whole_body;
    AttemptReport failure;  // PreCommit::Failed
    // Race bookkeeping (ProxyCall::race).
    bool finished = false;   // the pre-commit phase returned
    bool settled = false;    // recorded; its exchange is over
    bool cancelled = false;  // lost the race: closed, never the node's failure
    // Read by the exchange after connecting: the client left or the race was lost, so the
    // request is not sent.
    bool abandoned = false;
};

}  // namespace aiproxy::ai
