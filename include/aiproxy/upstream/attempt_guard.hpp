#pragma once
// AttemptGuard: held by the data path for the whole of one attempt on one node (connect,
// exchange and, for a committed response, the relay). It counts the attempt in flight (what
// least_conn and ewma read) and carries the attempt's outcome to the node's health and latency
// state, so the call sites stay one line each. An attempt that ends without a reported outcome
// (cancelled, client gone) gives a half-open trial back, so the node is not left untried.

#include <chrono>
#include <cstddef>
#include <string_view>

#include "aiproxy/upstream/node_health.hpp"

namespace aiproxy::upstream {

class NodeRuntime;
class UpstreamRuntime;

class AttemptGuard {
public:
    AttemptGuard() = default;
    // runtime must outlive the guard (the request's snapshot holds it). trial: PickNotes::trial.
    AttemptGuard(UpstreamRuntime& runtime, std::size_t node, bool trial,
                 Clock::time_point started = Clock::now());
    AttemptGuard(AttemptGuard&& other) noexcept;
    AttemptGuard& operator=(AttemptGuard&& other) noexcept;
    AttemptGuard(const AttemptGuard&) = delete;
    AttemptGuard& operator=(const AttemptGuard&) = delete;
    ~AttemptGuard();

    // The first response byte arrived: one latency sample (time since the guard started).
    // Only the first call counts.
    void firstByte(Clock::time_point now = Clock::now());
    // A latency sample measured by the caller (ewma's latency_strategy tpot and total).
    // Only the first sample of an attempt counts.
    void sample(Clock::duration latency, Clock::time_point now = Clock::now());
    // The upstream answered with status (Retry-After header value, if any, verbatim).
    void responded(int status, std::string_view retry_after = {},
                   Clock::time_point now = Clock::now(),
                   WallClock::time_point wall_now = WallClock::now());
    // The attempt failed before a status arrived. A timeout is also a latency sample: the
    // node took at least this long.
    void failed(FailureKind kind, std::string_view detail, Clock::time_point now = Clock::now());
    // Ends the attempt now (in-flight count down) instead of at destruction.
    void release();

    bool active() const { return node_ != nullptr; }

private:
    NodeRuntime* node_ = nullptr;
    Clock::time_point started_{};
    bool trial_ = false;
    bool reported_ = false;
    bool sampled_ = false;
};

}  // namespace aiproxy::upstream
