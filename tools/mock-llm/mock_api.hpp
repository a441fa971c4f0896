#pragma once

// Request dispatch and the mock's shared state (counters, live behaviour, last request). The I/O
// shell reads a request, asks `MockApi` for an `Answer` and carries it out; everything a test can
// observe through `/_mock/stats` is decided here, without sockets.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mock_options.hpp"

namespace aiproxy::mock {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method;
    std::string target;
    HeaderList headers;  // names lower-case, in arrival order
    std::string body;
};

/// What to send back. A non-empty `events` means an SSE stream: the header, then one event per
/// `chunk_gap`, dropped after `drop_after_chunks` events when that is >= 0.
struct Answer {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    HeaderList headers;
    std::vector<std::string> events;
    std::chrono::milliseconds latency{0};
    std::chrono::milliseconds chunk_gap{0};
    std::int64_t drop_after_chunks = -1;
};

enum class StreamEnd { kCompleted, kCancelled, kDropped };

/// Per-connection bookkeeping owned by the session; lets `connections` count each TCP connection
/// once per stats generation, at its first model request.
struct ConnectionTally {
    std::uint64_t counted_generation = 0;
};

/// Shared by every worker thread; all members are thread-safe.
class MockApi {
public:
    /// `require_key`: see Options::require_key (empty: no key needed).
    MockApi(std::string name, const Behaviour& initial, std::string require_key = {});

    Answer handle(Request&& request, ConnectionTally& tally);
    // Every `every`-th model request waits `ms` more before its header (0: never).
    void slowEvery(std::int64_t every, std::int64_t ms) {
        slow_every_ = every;
        slow_ms_ = ms;
    }
    void connectionAccepted() { connections_accepted_.fetch_add(1, std::memory_order_relaxed); }
    void streamEnded(StreamEnd end);
    const std::string& name() const { return name_; }

private:
    struct LiveBehaviour {
        std::atomic<std::int64_t> latency_ms{0};
        std::atomic<std::int64_t> stream_chunk_ms{0};
        std::atomic<int> status{0};
        std::atomic<std::int64_t> fail_first{0};
        std::atomic<std::int64_t> drop_after_chunks{-1};
    };

    Answer control(const Request& request, std::string_view path);
    Answer modelRequest(const Request& request, std::string_view path);
    std::optional<Answer> rejectKey(const Request& request, bool anthropic) const;
    Answer messagesRequest(const Request& request);
    Answer responsesRequest(const Request& request);
    Answer streamOrBody(bool stream, std::string body, std::vector<std::string> events);
    Answer applyConfig(std::string_view body);
    void reset();
    void store(const Behaviour& behaviour);
    bool takeForcedFailure();
    Behaviour current() const;
    std::string statsJson();

    const std::string name_;
    const std::string require_key_;
    const Behaviour initial_;
    const std::string models_json_;
    LiveBehaviour live_;
    std::int64_t slow_every_ = 0;
    std::int64_t slow_ms_ = 0;
    std::atomic<std::int64_t> slow_count_{0};
    std::atomic<std::int64_t> fail_remaining_{0};

    std::atomic<std::uint64_t> generation_{1};
    std::atomic<std::int64_t> requests_{0};
    std::atomic<std::int64_t> connections_{0};
    std::atomic<std::int64_t> connections_accepted_{0};
    std::atomic<std::int64_t> streams_completed_{0};
    std::atomic<std::int64_t> streams_cancelled_{0};
    std::atomic<std::int64_t> streams_dropped_{0};
    std::atomic<std::uint64_t> next_id_{1};

    std::mutex last_request_mutex_;
    std::optional<Request> last_request_;
};

}  // namespace aiproxy::mock
