#pragma once
// ai-response-rewrite: the assistant's text on its way to the client. Matches of `redact`
// patterns are replaced (StreamRedactor), `prepend_text` goes before the text and `append_text`
// after it. It works on the client's API shape, after any translation: OpenAI chat
// (choices[].message.content, choices[].delta.content) and Anthropic messages (text blocks,
// text_delta events). Other endpoints pass unchanged.
//
// Plain answers are rewritten whole here; streams by SseContentRewriter. In both, the text of
// each OpenAI choice and of each Anthropic text block is redacted on its own (a match never
// spans two), and prepend/append frame the text of each OpenAI choice, or of the Anthropic
// message as a whole (the first and last text block). An answer without text (only tool
// calls) gets neither.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/provider.hpp"
#include "aiproxy/ai/stream_redactor.hpp"
#include "aiproxy/config/config.hpp"

namespace aiproxy::ai {

// A route's ai-response-rewrite, compiled once per snapshot and shared by its workers.
struct ResponseRewrite {
    std::vector<RedactionRule> redact;
    std::string prepend_text;
    std::string append_text;
    std::size_t max_holdback_chars = 64;
    std::chrono::milliseconds max_holdback{50};
};

// nullptr, with `error` set, when a pattern does not compile (the config loader has checked
// them already).
std::shared_ptr<const ResponseRewrite> compileResponseRewrite(
    const config::AiResponseRewriteConfig& config, std::string& error);

// The API shapes whose text the rewrite knows.
inline bool rewritableApi(ClientApi api) {
    return api == ClientApi::OpenAiChat || api == ClientApi::AnthropicMessages;
}

// A plain (non-stream) answer of the client's API with its text rewritten; nullopt when `body`
// is not such an answer (not JSON, no choices or content), which is then sent as it came.
// Adds the matches replaced to `redactions`.
std::optional<std::string> rewriteAnswerBody(const ResponseRewrite& rewrite, ClientApi api,
                                             std::string_view body, std::size_t& redactions);

}  // namespace aiproxy::ai
