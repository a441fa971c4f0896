#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace aiproxy::mock {

/// How the mock answers model requests. Set from the command line, changed live through
/// `POST /_mock/config`, restored by `POST /_mock/reset`.
struct Behaviour {
    std::int64_t latency_ms = 0;          // delay before the response header
    std::int64_t stream_chunk_ms = 20;    // gap between two SSE events
    int status = 0;                       // 0: normal answers; else 400..599 with an error body
    std::int64_t fail_first = 0;          // the next K model requests answer 500
    std::int64_t drop_after_chunks = -1;  // -1: streams complete; D >= 0: D events, then drop
};

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string name = "mock";
    int threads = 1;
    // Non-empty: model requests must carry this key (Authorization: Bearer KEY; on /v1/messages
    // x-api-key: KEY plus an anthropic-version header), else 401 (400 without the version).
    std::string require_key;
    // Every slow_every-th model request (0: none) waits slow_ms more before its header: a node
    // whose first token is sometimes late (bench/hedging.sh). Command line only.
    std::int64_t slow_ms = 0;
    std::int64_t slow_every = 0;
    Behaviour behaviour;
};

/// Outcome of reading the command line: options, a request for help, or an error message.
struct ParsedCommandLine {
    std::optional<Options> options;
    bool help = false;
    std::string error;
};

ParsedCommandLine parseCommandLine(std::span<const std::string_view> args);

std::string usageText();

/// Checks one behaviour value against the range the mock accepts (shared by the command line and
/// the control endpoint). Returns an empty string when valid, else what is wrong.
std::string checkBehaviourValue(std::string_view key, std::int64_t value);

}  // namespace aiproxy::mock
