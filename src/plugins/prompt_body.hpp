#pragma once
// The conversation inside a chat request body, for the prompt plugins: OpenAI chat
// ({messages}), Anthropic messages ({system, messages}) and OpenAI responses ({instructions,
// input}) read and changed through one interface, so each plugin is written once.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/config/config.hpp"
#include "aiproxy/http/stage.hpp"
#include "aiproxy/plugins/stages.hpp"

namespace aiproxy::plugins {

enum class PromptApi { OpenAiChat, AnthropicMessages, OpenAiResponses };

// From the path below the route's prefix, as the proxy stage reads it (ai::classifyClientApi):
// "messages" is Anthropic's, "responses" OpenAI's Responses API, anything else chat-shaped.
PromptApi promptApiOf(std::string_view api_path);

// A content value's text: a string, or the text parts of a list of parts/blocks joined by " ".
std::string contentText(const nlohmann::json& content);

struct PromptText {
    std::string role;
    std::string text;
};

// Every message in order, system prompts first (Anthropic's `system`, the Responses API's
// `instructions`); a legacy completions `prompt` reads as a user message.
std::vector<PromptText> conversationOf(const nlohmann::json& body, PromptApi api);

// Adds messages before and after the client's. System messages of an Anthropic body join its
// top-level `system` (and a Responses body's `instructions`), where those APIs keep them.
// False, with `problem` set, when the body has no place for them (messages is not a list).
bool decorate(nlohmann::json& body, PromptApi api, const std::vector<config::PromptMessage>& before,
              const std::vector<config::PromptMessage>& after, std::string& problem);

// The body as it goes on: compact, invalid UTF-8 replaced rather than thrown on.
std::string serializeBody(const nlohmann::json& body);

// A prompt plugin's refusal: counted, named for the access log, in APISIX's message shape.
class PromptRefusals {
public:
    PromptRefusals(const StageBuild& build, std::string_view plugin);
    http::StageVerdict refuse(http::RequestContext& context, unsigned status,
                              std::string message) const;

private:
    std::string_view plugin_;
    metrics::CounterCell* rejected_ = nullptr;
};

}  // namespace aiproxy::plugins
