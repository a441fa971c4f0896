#pragma once
// The JSON-level request translations and the small mapping tables shared by the translation
// files and request shaping, so a body is parsed once and serialised once.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "json_access.hpp"

namespace aiproxy::ai::detail {

// Each returns an error message (empty on success) and fills `out` with the translated request.
std::string openAiChatToAnthropic(const Json& in, const AnthropicRequestOptions& options,
                                  Json& out);
std::string anthropicToOpenAiChat(const Json& in, Json& out);
// An OpenAI Responses request (text input only) -> Anthropic messages.
std::string responsesToAnthropic(const Json& in, const AnthropicRequestOptions& options, Json& out);

// Stop reasons both ways; unknown values map to the plain "finished" reason.
std::string_view openAiFinishReason(std::string_view anthropic_stop_reason);
std::string_view anthropicStopReason(std::string_view openai_finish_reason);
// OpenAI's finish_reason "stop" does not say whether a stop sequence ended the answer; vLLM and
// other OpenAI-compatible servers name the matched string in the choice's "stop_reason". That
// string, when the finish reason is "stop", else nullopt: from OpenAI itself a stop sequence
// cannot be told from a natural end, and the answer reads "end_turn".
std::optional<std::string> matchedStopSequence(const Json& choice, std::string_view finish_reason);

// Token counts in one neutral shape, read from or written to either format.
struct TokenUsage {
    std::int64_t input = 0;           // Anthropic input_tokens (not cached)
    std::int64_t cache_read = 0;      // cache_read_input_tokens / cached_tokens
    std::int64_t cache_creation = 0;  // cache_creation_input_tokens
    std::int64_t output = 0;
    bool cache_reported = false;  // the upstream reported cache fields (echoed back only then)
};

// Reads an Anthropic "usage" object, updating only the fields present (stream events carry
// some of them at a time).
void readAnthropicUsage(const Json& usage, TokenUsage& tokens);
// Reads an OpenAI "usage" object.
void readOpenAiUsage(const Json& usage, TokenUsage& tokens);
Json openAiUsageJson(const TokenUsage& tokens);
Json anthropicUsageJson(const TokenUsage& tokens);

// Pieces of the OpenAI Responses API's answer, shared by the plain and the streamed translation
// (responses_anthropic_response.cpp).
Json responsesUsageJson(const TokenUsage& tokens);
// "completed", or "incomplete" with its incomplete_details, for an Anthropic stop reason.
std::string_view responsesStatus(std::string_view anthropic_stop_reason, Json& incomplete_details);
std::string responsesId(std::string_view anthropic_id);  // "msg_X" -> "resp_X"
Json outputTextPart(std::string_view text);
Json messageItem(std::string_view id, std::string_view status, Json content);
// A `response` object; `usage` null while in progress.
Json responsesObject(std::string_view id, std::int64_t created, std::string_view model,
                     std::string_view status, Json output, Json incomplete_details, Json usage);

// Error types per status in both formats.
std::string_view anthropicErrorType(unsigned status);
std::string_view openAiErrorType(unsigned status);

// {"error":{"message","type","code"}} and {"type":"error","error":{"type","message"}}.
Json openAiErrorJson(std::string_view message, std::string_view type, std::string_view code);
Json anthropicErrorJson(std::string_view type, std::string_view message);
// An Anthropic error (its "error" object) as an OpenAI error: the Anthropic type is the code.
Json openAiErrorFromAnthropic(const Json& error);

// Error paths and small JSON pieces both request directions use.
std::string at(std::string_view path, std::size_t index);  // "messages[2]"
std::string quoted(std::string_view text);
Json textBlock(std::string_view text);  // an Anthropic text block
// Appends a turn to Anthropic `messages`, merged into the previous one when the role repeats.
void appendTurn(Json& messages, std::string_view role, Json content);

}  // namespace aiproxy::ai::detail
