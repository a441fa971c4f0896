#include "mock_options.hpp"

#include <charconv>

namespace aiproxy::mock {
namespace {

constexpr std::int64_t kMaxDelayMs = 3'600'000;

std::optional<std::int64_t> parseInteger(std::string_view text) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty()) return std::nullopt;
    return value;
}

// Maps a flag to the behaviour field it sets; nullptr for flags that are not behaviour.
std::int64_t* behaviourField(Behaviour& behaviour, std::string_view key) {
    if (key == "latency_ms") return &behaviour.latency_ms;
    if (key == "stream_chunk_ms") return &behaviour.stream_chunk_ms;
    if (key == "fail_first") return &behaviour.fail_first;
    if (key == "drop_after_chunks") return &behaviour.drop_after_chunks;
    return nullptr;
}

}  // namespace

std::string checkBehaviourValue(std::string_view key, std::int64_t value) {
    if (key == "latency_ms" || key == "stream_chunk_ms") {
        if (value < 0 || value > kMaxDelayMs) return "must be between 0 and 3600000";
    } else if (key == "status") {
        if (value != 0 && (value < 400 || value > 599)) return "must be 0 (off) or 400..599";
    } else if (key == "fail_first") {
        if (value < 0) return "must be >= 0";
    } else if (key == "drop_after_chunks") {
        if (value < -1) return "must be >= 0, or -1 (off)";
    } else {
        return "is not a behaviour setting";
    }
    return {};
}

ParsedCommandLine parseCommandLine(std::span<const std::string_view> args) {
    ParsedCommandLine result;
    Options options;
    bool port_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view flag = args[i];
        if (flag == "--help" || flag == "-h") {
            result.help = true;
            return result;
        }
        std::string_view value;
        bool has_value = false;
        if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
            has_value = true;
        } else if (i + 1 < args.size()) {
            value = args[i + 1];
            has_value = true;
            ++i;
        }
        if (!flag.starts_with("--")) {
            result.error = "unexpected argument '" + std::string(flag) + "'";
            return result;
        }
        if (!has_value) {
            result.error = std::string(flag) + " needs a value";
            return result;
        }
        std::string key(flag.substr(2));
        for (char& c : key) {
            if (c == '-') c = '_';
        }
        auto bad = [&](std::string_view what) {
            result.error =
                std::string(flag) + " " + std::string(what) + " (got '" + std::string(value) + "')";
            return result;
        };
        if (key == "host") {
            if (value.empty()) return bad("must not be empty");
            options.host = value;
            continue;
        }
        if (key == "require_key") {
            if (value.empty()) return bad("must not be empty");
            options.require_key = value;
            continue;
        }
        if (key == "name") {
            if (value.empty()) return bad("must not be empty");
            options.name = value;
            continue;
        }
        std::optional<std::int64_t> number = parseInteger(value);
        if (key == "port") {
            if (!number || *number < 0 || *number > 65535) return bad("must be 0..65535");
            options.port = static_cast<std::uint16_t>(*number);
            port_given = true;
        } else if (key == "slow_ms") {
            if (!number || *number < 0 || *number > kMaxDelayMs) {
                return bad("must be between 0 and 3600000");
            }
            options.slow_ms = *number;
        } else if (key == "slow_every") {
            if (!number || *number < 0) return bad("must be >= 0");
            options.slow_every = *number;
        } else if (key == "threads") {
            if (!number || *number < 1 || *number > 256) return bad("must be 1..256");
            options.threads = static_cast<int>(*number);
        } else if (key == "status" || behaviourField(options.behaviour, key) != nullptr) {
            if (!number) return bad("must be an integer");
            if (std::string problem = checkBehaviourValue(key, *number); !problem.empty()) {
                return bad(problem);
            }
            if (key == "status") {
                options.behaviour.status = static_cast<int>(*number);
            } else {
                *behaviourField(options.behaviour, key) = *number;
            }
        } else {
            result.error = "unknown option " + std::string(flag);
            return result;
        }
    }
    if (!port_given) {
        result.error = "--port is required (0 picks a free port)";
        return result;
    }
    result.options = std::move(options);
    return result;
}

std::string usageText() {
    return R"(usage: aiproxy-mock-llm --port P [options]

An OpenAI-compatible (and Anthropic Messages) mock LLM backend for tests, demos and
benchmarks.

options:
  --port P               listen port (required; 0 picks a free one, printed on stderr)
  --host H               listen address (default 127.0.0.1)
  --name N               backend name, shown in replies and X-Mock-Backend (default mock)
  --threads T            worker threads, one io_context each (default 1)
  --require-key K        model requests need the key K: "Authorization: Bearer K", or on
                         /v1/messages "x-api-key: K" and an anthropic-version header;
                         else 401 (400 when only anthropic-version is missing)
  --latency-ms L         delay before every model response header (default 0)
  --stream-chunk-ms C    gap between SSE events (default 20)
  --slow-ms S            with --slow-every N: every N-th model request waits S ms more
  --slow-every N         before its header (a first token that is sometimes late; default 0)
  --status S             answer every model request with S (400..599) and an error body;
                         429 also sends Retry-After: 1 (default 0: off)
  --fail-first K         the first K model requests answer 500 (default 0)
  --drop-after-chunks D  streams send D events, then reset the connection; D=0 sends the
                         200 header and closes before any body byte (default: off)
  -h, --help             this text

API (model requests; only under /v1):
  POST /v1/chat/completions  chat.completion, or with "stream": true an SSE stream of
                             chat.completion.chunk events ending in "data: [DONE]";
                             stream_options.include_usage adds a usage chunk. The reply is
                             "[N] Hello from N. You said: <start of the last user message>".
                             model: the requested one, else "mock-N".
  POST /v1/embeddings        8-float unit vectors derived from the input (or "dimensions");
                             encoding_format "base64" is honoured
  GET  /v1/models            the models this mock claims to serve
  POST /v1/messages          Anthropic Messages: a "message" with one text block, stop_reason
                             and usage (input_tokens, output_tokens); with "stream": true the
                             SSE events message_start, content_block_start, ping,
                             content_block_delta (text_delta, one per word), content_block_stop,
                             message_delta (stop_reason, usage.output_tokens), message_stop.
                             Same reply text as chat; max_tokens cuts it (stop_reason
                             max_tokens). Errors in Anthropic's shape.
  POST /v1/responses         OpenAI Responses: a "response" with one message item (one
                             output_text part) and usage; with "stream": true the events
                             response.created, .in_progress, .output_item.added,
                             .content_part.added, .output_text.delta (one per word),
                             .output_text.done, .content_part.done, .output_item.done,
                             .completed. Same reply text; max_output_tokens cuts it (status
                             incomplete).
  Every response carries X-Mock-Backend: N.

control (not counted in the stats):
  GET  /_mock/stats   {"name","requests","connections","connections_accepted",
                      "streams_completed","streams_cancelled","streams_dropped",
                      "fail_first_remaining","config":{...},"last_request":{"method",
                      "target","headers":{lower-case name: value},"body"} or null}
                      connections: TCP connections that carried a model request
  POST /_mock/config  {"latency_ms","stream_chunk_ms","status","fail_first",
                      "drop_after_chunks"}: any subset, null = unchanged; status 0 and
                      drop_after_chunks -1 turn those off; fail_first restarts the count
  GET  /_mock/config  the behaviour in effect
  POST /_mock/reset   zero the counters, forget last_request, restore the command line
)";
}

}  // namespace aiproxy::mock
