#pragma once
// Token usage as the providers report it, normalised to one shape, from whole response bodies
// and from streams. Parsing never throws: a body or event that is not the JSON expected leaves
// the counts unknown instead.
//
// Normalisation: prompt_tokens counts every input token whatever its billing, so the cached
// and cache-creation counts are parts of it (OpenAI reports it that way; Anthropic reports
// input_tokens without the cache reads and writes, which are added here). completion_tokens
// includes reasoning tokens (both providers bill them as output).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/ai/sse_event.hpp"

namespace aiproxy::ai {

struct Usage {
    std::string model;  // the model that served the request ("model" of the response); may be ""
    std::optional<std::uint64_t> prompt_tokens;      // unknown when the provider did not say
    std::optional<std::uint64_t> completion_tokens;  // unknown e.g. when a stream was cut
    std::optional<std::uint64_t> total_tokens;       // as reported, else prompt + completion
    std::uint64_t cached_prompt_tokens = 0;   // part of prompt_tokens read from a prompt cache
    std::uint64_t cache_creation_tokens = 0;  // part of prompt_tokens written to it (Anthropic)
    std::uint64_t reasoning_tokens = 0;       // part of completion_tokens
    bool operator==(const Usage&) const = default;
};

// An OpenAI-style body (chat completions, completions, embeddings, the Responses API; also
// DeepSeek's prompt_cache_hit_tokens). A "usage" object without completion_tokens (embeddings)
// means no completion tokens.
Usage usageFromOpenAiBody(std::string_view body);

// An Anthropic /v1/messages response body.
Usage usageFromAnthropicBody(std::string_view body);

// What one stream event was, as far as accounting and the usage filter care.
enum class StreamEventKind {
    Other,      // content, metadata, pings, or an event that did not parse
    UsageOnly,  // an OpenAI chunk carrying usage and no choices (stream_options.include_usage)
    Done,       // the end marker: OpenAI "data: [DONE]" or Anthropic message_stop
};

struct StreamUsage {
    Usage usage;                   // completion_tokens unknown unless a usage event said it
    bool usage_reported = false;   // an event with final output counts arrived
    bool done = false;             // the end marker arrived: the stream was complete
    std::uint64_t events = 0;      // data events seen, the end marker excluded
    std::uint64_t text_bytes = 0;  // generated text in the events (content deltas), as written
    bool operator==(const StreamUsage&) const = default;
};

// Accumulates usage over the events of one streamed response, OpenAI chunks or Anthropic
// events (told apart per event). OpenAI puts usage in a final chunk with "choices": [] when
// stream_options.include_usage is set; vLLM and others put it in the last content chunk or in
// every chunk (cumulative): the last usage seen wins. Anthropic's message_start carries the
// input and cache counts and the model, message_delta the cumulative output count. The OpenAI
// Responses API's response.completed event is read too (by its event name, or by its data's type
// when the server sends no `event:` lines). Only events that can carry usage are
// parsed as JSON, so content chunks cost a scan, not a parse.
class StreamUsageAccumulator {
public:
    StreamEventKind add(const SseEvent& event);
    const StreamUsage& result() const { return result_; }
    // Count text_bytes too: a scan of every event, done only for a request that is charged by
    // its relayed text when its usage never comes (ai-rate-limiting's budgets).
    void countText(bool on) { count_text_ = on; }

private:
    StreamEventKind addOpenAiChunk(std::string_view data);
    StreamEventKind addSimpleUsageChunk(std::string_view data);
    StreamEventKind addNamedEvent(std::string_view type, std::string_view data);

    StreamUsage result_;
    std::optional<std::uint64_t> anthropic_input_tokens_;  // Usage holds only the prompt sum
    bool count_text_ = false;
};

}  // namespace aiproxy::ai
