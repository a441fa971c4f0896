#pragma once

// The OpenAI Responses API wire shapes the mock reads and writes (POST /v1/responses, plain and
// streamed, as in OpenAI's API reference "Responses" and "Streaming events"). Pure functions like
// openai_shapes.hpp; the reply text and token counts come from the same ChatCompletion, so every
// API of one mock answers alike.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "openai_shapes.hpp"

namespace aiproxy::mock {

/// What a response depends on. `error` is set (a 400 body) when the body is invalid: not an
/// object, input missing or neither a string nor an array, stream not a boolean.
struct ResponsesRequest {
    ChatRequest chat;              // model, stream, prompt tokens (instructions included)
    std::int64_t max_tokens = -1;  // max_output_tokens; -1: no limit
    std::string error;
};

ResponsesRequest parseResponsesRequest(std::string_view body, std::string_view backend_name);

/// A reply cut to max_output_tokens words; `truncated` says whether that happened.
struct ResponsesReply {
    ChatCompletion completion;  // id "resp_...", created, model, deltas, prompt tokens
    bool truncated = false;
};

ResponsesReply makeResponsesReply(const ResponsesRequest& request, std::string_view backend_name,
                                  std::string id, std::int64_t created);

/// A `response` object: one message item with one output_text part, status, usage.
std::string responseJson(const ResponsesReply& reply);

/// SSE events, each "event: TYPE\ndata: {...}\n\n" with a sequence_number: response.created,
/// response.in_progress, response.output_item.added, response.content_part.added, one
/// response.output_text.delta per word, response.output_text.done, response.content_part.done,
/// response.output_item.done, response.completed (or response.incomplete) with usage.
std::vector<std::string> responseEvents(const ResponsesReply& reply);

}  // namespace aiproxy::mock
