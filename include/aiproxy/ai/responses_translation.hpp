#pragma once
// OpenAI Responses API (POST /v1/responses) -> Anthropic messages and back: what lets a route
// whose clients speak the Responses API fall back to (or live on) Claude. Text only; pure and
// non-throwing like anthropic_translation.hpp, whose Translation::ResponsesToAnthropic selects
// these.
//
// Mapping decisions (from the two APIs' reference documentation):
// - Request: `input` (a string, or message items whose content is a string or input_text /
//   output_text / refusal parts, roles user, assistant, system, developer) -> `messages`
//   (same-role turns merged); `instructions` and system/developer items -> `system`;
//   max_output_tokens -> max_tokens (kDefaultAnthropicMaxTokens when absent); temperature
//   (clamped to 0-1), top_p, stream; user / safety_identifier -> metadata.user_id.
// - Refused, so the client is not silently served something else: tools, non-message items
//   (function_call, function_call_output, reasoning, item_reference, ...), image / file / audio
//   parts, previous_response_id and conversation (state the gateway does not hold), background,
//   prompt templates, text.format other than text, top_logprobs.
// - Dropped (no effect on the answer's shape): reasoning, include, store, metadata, truncation,
//   service_tier, parallel_tool_calls, tool_choice, max_tool_calls, stream_options,
//   prompt_cache_key.
// - Answer: one `message` output item with one output_text part per Anthropic text block
//   (annotations and logprobs empty); thinking and tool_use blocks are dropped. `output_text` is
//   not sent: it is the SDKs' own convenience, computed from the output items. Stop reasons:
//   max_tokens -> status incomplete with incomplete_details.reason max_output_tokens, refusal ->
//   incomplete with content_filter, anything else -> completed. Usage: input_tokens = Anthropic
//   input + cache reads + cache writes, input_tokens_details.cached_tokens = cache reads.
// - Stream: message_start -> response.created + response.in_progress; the first text block ->
//   response.output_item.added (the message) and each text block -> response.content_part.added,
//   its deltas response.output_text.delta, its stop response.output_text.done +
//   response.content_part.done; message_stop -> response.output_item.done then
//   response.completed (or response.incomplete) with the whole response and usage. Every event
//   has `event:` and a sequence_number counting from 0. An Anthropic error event becomes the
//   Responses `error` event ({type: error, code: the Anthropic type, message, param: null}).

#include <cstdint>
#include <memory>
#include <string_view>

#include "aiproxy/ai/anthropic_translation.hpp"

namespace aiproxy::ai {

// Errors: the client's fault (answer 400 invalid_request_error).
TranslatedBody responsesToAnthropicRequest(std::string_view responses_body,
                                           const AnthropicRequestOptions& options = {});

// An Anthropic message (status < 400) -> a Responses `response` object; `created` is the Unix
// time for created_at. Errors: answer 502.
TranslatedBody anthropicToResponsesResponse(std::string_view anthropic_body, std::int64_t created);

// Anthropic message events -> Responses streaming events (options.include_usage is unused: the
// final event always carries usage).
std::unique_ptr<StreamTranslator> makeAnthropicToResponsesStream(StreamTranslatorOptions options);

}  // namespace aiproxy::ai
