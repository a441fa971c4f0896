#pragma once

// The Anthropic Messages wire shapes the mock reads and writes (POST /v1/messages, as documented
// at docs.anthropic.com: "Messages", "Streaming Messages", "Errors"). Pure functions like
// openai_shapes.hpp; the reply text and token counts come from the same ChatCompletion, so both
// APIs of one mock answer alike.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "openai_shapes.hpp"

namespace aiproxy::mock {

/// `{"type":"error","error":{"type","message"}}`.
std::string anthropicErrorJson(std::string_view type, std::string_view message);

/// The error body Anthropic sends with `status` (its documented error types).
std::string anthropicErrorJsonForStatus(int status, std::string_view message);

/// What a message reply depends on. `error` is set (a 400 body in Anthropic's shape) when the
/// body is invalid: not an object, or model, max_tokens or messages missing or of a wrong type.
struct MessagesRequest {
    ChatRequest chat;  // model, stream, prompt tokens (system included), last user text
    std::int64_t max_tokens = 0;
    std::string error;
};

MessagesRequest parseMessagesRequest(std::string_view body);

/// A reply cut to `max_tokens` words; `truncated` says whether that happened.
struct MessageReply {
    ChatCompletion completion;
    bool truncated = false;
};

MessageReply makeMessageReply(const MessagesRequest& request, std::string_view backend_name,
                              std::string id);

/// A `message` object with one text block, stop_reason and usage (input/output tokens).
std::string messageJson(const MessageReply& reply);

/// SSE events, each "event: NAME\ndata: {...}\n\n": message_start, content_block_start, ping,
/// one content_block_delta (text_delta) per word, content_block_stop, message_delta (stop_reason,
/// usage.output_tokens), message_stop.
std::vector<std::string> messageEvents(const MessageReply& reply);

}  // namespace aiproxy::mock
