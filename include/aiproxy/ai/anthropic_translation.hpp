#pragma once
// OpenAI chat completions <-> Anthropic messages, both ways: requests, responses, streams and
// errors. This is what lets a route fall back from an OpenAI-style upstream to Claude (or from
// Claude to a local model) with no client change.
//
// Everything here is pure and never throws: bodies are parsed with the non-throwing JSON API and
// problems come back as values. Request errors are the client's fault (the caller answers 400);
// a response that cannot be translated is the upstream's (the caller answers 502).
//
// Mapping decisions (from the two APIs' reference documentation):
// - system/developer messages become Anthropic's top-level `system`; tool results become
//   `tool_result` blocks of a user message; consecutive same-role messages are merged because
//   Anthropic wants alternating turns.
// - Anthropic requires max_tokens: kDefaultAnthropicMaxTokens when the client gives none.
//   OpenAI's temperature range is 0-2, Anthropic's 0-1: values above 1 are clamped.
// - Fields with no counterpart and no effect on the answer's shape (penalties, seed, logit_bias,
//   top_k, thinking) are dropped; fields that would change it (n > 1, response_format
//   json_object/json_schema, audio, logprobs) are errors, so the client is not silently served
//   something else.
// - Usage: OpenAI prompt_tokens = input_tokens + cache_read_input_tokens +
//   cache_creation_input_tokens (Anthropic's input_tokens excludes cached input);
//   prompt_tokens_details.cached_tokens = cache_read_input_tokens.
// - Stop reasons: end_turn/stop_sequence/pause_turn -> stop, max_tokens -> length, tool_use ->
//   tool_calls, refusal -> content_filter; back: stop -> end_turn, length -> max_tokens,
//   tool_calls/function_call -> tool_use, content_filter -> refusal.
// - Anthropic thinking blocks become `reasoning_content` (the field DeepSeek and vLLM use);
//   reasoning_content from an OpenAI-style upstream is dropped on the way to Anthropic clients,
//   since a thinking block without its signature cannot be sent back.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "aiproxy/ai/sse_event.hpp"

namespace aiproxy::ai {

// Which way a request (and so its response) is translated.
enum class Translation {
    None,
    OpenAiToAnthropic,  // OpenAI chat client, Anthropic upstream
    AnthropicToOpenAi,  // Anthropic messages client, OpenAI-style upstream
    // OpenAI Responses client, Anthropic upstream (responses_translation.hpp)
    ResponsesToAnthropic,
};

inline constexpr int kDefaultAnthropicMaxTokens = 4096;

// A translated body, or why there is none (error non-empty).
struct TranslatedBody {
    std::string body;
    std::string error;
    bool ok() const { return error.empty(); }
};

// ---- Requests (errors: answer 400 invalid_request_error) ----

struct AnthropicRequestOptions {
    int default_max_tokens = kDefaultAnthropicMaxTokens;
};

TranslatedBody openAiChatToAnthropicRequest(std::string_view openai_body,
                                            const AnthropicRequestOptions& options = {});

// Sets stream_options.include_usage on streams: the stream translator needs the usage chunk to
// fill message_delta.usage (the client never sees that chunk: it gets Anthropic events).
TranslatedBody anthropicToOpenAiChatRequest(std::string_view anthropic_body);

// ---- Non-streaming responses, status < 400 (errors: answer 502) ----

// `created` is the Unix time to report (Anthropic messages carry none).
TranslatedBody anthropicToOpenAiResponse(std::string_view anthropic_body, std::int64_t created);
TranslatedBody openAiToAnthropicResponse(std::string_view openai_body);

// Picks one of the two above (or anthropicToResponsesResponse); None returns the body unchanged.
TranslatedBody translateResponseBody(Translation translation, std::string_view upstream_body,
                                     std::int64_t created);

// ---- Error bodies, status >= 400 (the status is kept) ----

// {"type":"error","error":{"type","message"}} -> {"error":{"message","type","code"}}. A body that
// is not an Anthropic error becomes the message of a generic error for the status.
std::string anthropicErrorToOpenAi(unsigned status, std::string_view anthropic_body);
// {"error":{"message","type","code"}} -> {"type":"error","error":{"type","message"}}; the type
// comes from the status (400 invalid_request_error, 401 authentication_error, 429
// rate_limit_error, 529 overloaded_error, ...).
std::string openAiErrorToAnthropic(unsigned status, std::string_view openai_body);

// Picks one of the two above (a Responses client gets the OpenAI shape); None returns the body
// unchanged.
std::string translateErrorBody(Translation translation, unsigned status,
                               std::string_view upstream_body);

// An error the gateway itself answers to an Anthropic client (no route, 502, 504, a ShapeError),
// in Anthropic's shape; the type follows the status.
std::string anthropicErrorBody(unsigned status, std::string_view message);

// ---- Streams ----

struct StreamTranslatorOptions {
    std::int64_t created = 0;    // Unix time for OpenAI chunks
    bool include_usage = false;  // the OpenAI client asked stream_options.include_usage
    std::string fallback_model;  // used until the upstream names its model
};

// Turns one upstream SSE stream into the client's format, one event at a time. Output is
// SSE-framed text, ready to write. Owned by one request; not thread-safe.
class StreamTranslator {
public:
    enum class State {
        Open,      // more events expected
        Complete,  // the upstream's end-of-message event was translated (client saw the end)
        Failed,    // an error event was translated; the client saw an error event
    };

    virtual ~StreamTranslator() = default;

    // Translates one upstream event, appending the client's bytes to `out` (often nothing:
    // content_block_stop, signature deltas; an Anthropic ping becomes an SSE comment line).
    // Events after the stream left Open are ignored.
    virtual void onEvent(const SseEvent& event, std::string& out) = 0;

    // The upstream closed. If it had already finished the answer (a stop reason arrived) but not
    // the stream's last event, appends the client's closing events and becomes Complete;
    // otherwise appends nothing, so the client sees the cut as an abrupt end.
    virtual void onUpstreamEnd(std::string& out) = 0;

    virtual State state() const = 0;
};

// Anthropic message events -> OpenAI chat.completion.chunk events, then "data: [DONE]".
std::unique_ptr<StreamTranslator> makeAnthropicToOpenAiStream(StreamTranslatorOptions options);
// OpenAI chat.completion.chunk events -> Anthropic message events.
std::unique_ptr<StreamTranslator> makeOpenAiToAnthropicStream(StreamTranslatorOptions options);

// Picks one of the two above (or makeAnthropicToResponsesStream); nullptr for None.
std::unique_ptr<StreamTranslator> makeStreamTranslator(Translation translation,
                                                       StreamTranslatorOptions options);

}  // namespace aiproxy::ai
