#pragma once
// The failure rules of the proxy stage as pure functions (ARCHITECTURE.md section 6): how an
// attempt is labelled, where the commit point is, whether a failure in the middle of an
// exchange is retried, how long an attempt may take under the request's deadline, and which
// answer the client gets when the attempts run out. The I/O coroutine only asks.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/ai/attempt_plan.hpp"
#include "aiproxy/ai/proxy_metrics.hpp"
#include "aiproxy/ai/stream_preamble.hpp"

namespace aiproxy::ai {

using Clock = std::chrono::steady_clock;

// client_cancel: the client left before the attempt committed, whatever else happened.
AttemptLabel labelOf(Failure failure, unsigned status, bool client_cancel);

// How a stream's preamble is held (ai-proxy's hold_preamble and preamble_max_bytes).
struct PreambleHold {
    bool enabled = true;
    std::size_t max_bytes = kMaxPreambleBytes;
};

enum class CommitPoint {
    Hold,           // nothing the client needs yet: keep reading, the attempt may still fail over
    Commit,         // send what is held: the response is the client's now
    UpstreamError,  // an error event before any content: the attempt failed, as before headers
};

// Commit point: the first byte the client would see. A plain answer commits with its first
// byte; a stream (with the hold on) only once what is held is more than its preamble or the
// hold is full, so an upstream that sends a role chunk and dies, or sends an error event, is
// still retried. verified: how much of `held` earlier calls found to be preamble (see
// classifyStreamStart); error: the upstream's message for UpstreamError.
CommitPoint commitPoint(bool event_stream, std::string_view held, std::size_t& verified,
                        const PreambleHold& hold = {}, std::string* error = nullptr);

// A body read that fails: before the commit point it is the attempt's failure and the plan may
// retry it (a timeout or a reset); after it the client has bytes, so the response is cut and
// nothing is retried (nullopt).
std::optional<Failure> bodyFailure(bool committed, bool timed_out);

// When an attempt starting at `now` must be done: its own timeout, capped by the request's
// deadline when there is one.
Clock::time_point attemptDeadline(Clock::time_point now, std::chrono::milliseconds timeout,
                                  std::optional<Clock::time_point> request_deadline);

enum class FinalAnswer {
    KeptUpstreamAnswer,  // the last retryable upstream answer (429, 503 ...), as it came
    GatewayTimeout,      // 504: the last attempt timed out, or the request's deadline ran out
    BadGateway,          // 502: everything else
};

// When every attempt failed: an upstream's own answer beats one the gateway makes up
// (section 4.7); then a timeout (or a spent deadline) is a 504, anything else a 502.
FinalAnswer finalAnswer(bool have_kept_answer, Failure last_failure, bool deadline_spent);

}  // namespace aiproxy::ai
