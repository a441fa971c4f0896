#pragma once
// The LLM a stage asks itself (http::SideLlm: ai-request-rewrite's): an upstream of one node,
// asked through the worker's pooled upstream client by WorkerServices::askLlm, with the same
// provider shaping as the proxy stage (provider defaults, base path, auth headers and query,
// options, translation to Anthropic's API). Unlike a proxied request it carries nothing of the
// client's but its body: no client headers, so never the client's credentials. One exchange,
// no retry: the caller turns any failure into its own answer.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/config/config.hpp"
#include "aiproxy/config/provider_defaults.hpp"
#include "aiproxy/http/stage.hpp"
#include "aiproxy/upstream/http_client.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::ai {

// Built once per snapshot. limits bound the answer (header and body bytes).
std::shared_ptr<const http::SideLlm> makeSideLlm(std::shared_ptr<const upstream::Upstream> upstream,
                                                 upstream::ExchangeLimits limits);

// The request to send, or why the question cannot be asked of this provider.
struct SideRequest {
    std::string head;  // request line, Host, auth and provider headers, Content-Length, CRLF
    std::string body;
    std::string error;  // non-empty: nothing to send
};

// The question (an OpenAI chat completion request body) as `llm` takes it, for a node whose
// Host header is `host`.
SideRequest sideRequest(const config::UpstreamConfig& llm, std::string_view host,
                        std::string_view chat_body, std::string_view request_id);

// The assistant's text in an answer of `wire` format: choices[0].message.content (OpenAI), the
// first text block of `content` (Anthropic). Nullopt, with `error` saying why, when it is not
// JSON or holds no text (an empty text counts as none).
struct AnswerText {
    std::optional<std::string> text;
    std::string error;
};
AnswerText answerText(config::WireFormat wire, std::string_view body);

}  // namespace aiproxy::ai
