#pragma once

// The OpenAI wire shapes the mock reads and writes. Pure functions of their inputs (the caller
// supplies ids and timestamps), so every answer is deterministic and testable without sockets.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aiproxy::mock {

struct JsonReply {
    int status = 200;
    std::string body;
};

/// `{"error":{"message","type","code"}}`, the shape both OpenAI and the gateway use.
std::string errorJson(std::string_view message, std::string_view type, std::string_view code);

/// The error body a backend would send with `status` (type and code chosen to match OpenAI's).
std::string errorJsonForStatus(int status, std::string_view message);

/// Rough token count: whitespace-separated words.
std::int64_t countWords(std::string_view text);

/// What a chat completion reply depends on. `error` is set (a 400 body) when the body is invalid.
struct ChatRequest {
    std::string model;
    bool stream = false;
    bool include_usage = false;
    std::int64_t prompt_tokens = 0;
    std::string last_user_text;
    std::string error;
};

ChatRequest parseChatRequest(std::string_view body, std::string_view backend_name);

struct ChatCompletion {
    std::string id;
    std::int64_t created = 0;
    std::string model;
    std::vector<std::string> deltas;  // the reply word by word; joined they are the content
    std::int64_t prompt_tokens = 0;
    bool include_usage = false;
};

/// Reply text: "[NAME] Hello from NAME." plus "You said: ..." with the start of the user's text.
ChatCompletion makeChatCompletion(const ChatRequest& request, std::string_view backend_name,
                                  std::string id, std::int64_t created);

/// A `chat.completion` object.
std::string chatCompletionJson(const ChatCompletion& completion);

/// SSE events, each "data: ...\n\n": role delta, one content delta per word, finish_reason,
/// the usage chunk when asked for, then "data: [DONE]".
std::vector<std::string> chatCompletionEvents(const ChatCompletion& completion);

JsonReply embeddingsReply(std::string_view body, std::string_view backend_name);

std::string modelsJson(std::string_view backend_name);

}  // namespace aiproxy::mock
