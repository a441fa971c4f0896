// Non-streaming response bodies and error bodies: Anthropic messages <-> OpenAI chat
// completions, plus the stop-reason, usage and error-type tables the stream translators share.

#include <algorithm>
#include <string>
#include <utility>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/ai/responses_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace detail {

std::string_view openAiFinishReason(std::string_view anthropic_stop_reason) {
    if (anthropic_stop_reason == "max_tokens") return "length";
    if (anthropic_stop_reason == "tool_use") return "tool_calls";
    if (anthropic_stop_reason == "refusal") return "content_filter";
    return "stop";  // end_turn, stop_sequence, pause_turn
}

std::optional<std::string> matchedStopSequence(const Json& choice, std::string_view finish_reason) {
    if (finish_reason != "stop") return std::nullopt;
    auto matched = stringMember(choice, "stop_reason");
    if (!matched || matched->empty()) return std::nullopt;
    return std::string(*matched);
}

std::string_view anthropicStopReason(std::string_view openai_finish_reason) {
    if (openai_finish_reason == "length") return "max_tokens";
    if (openai_finish_reason == "tool_calls" || openai_finish_reason == "function_call") {
        return "tool_use";
    }
    if (openai_finish_reason == "content_filter") return "refusal";
    return "end_turn";
}

void readAnthropicUsage(const Json& usage, TokenUsage& tokens) {
    if (auto value = integerMember(usage, "input_tokens")) tokens.input = *value;
    if (auto value = integerMember(usage, "output_tokens")) tokens.output = *value;
    if (auto value = integerMember(usage, "cache_read_input_tokens")) {
        tokens.cache_read = *value;
        tokens.cache_reported = true;
    }
    if (auto value = integerMember(usage, "cache_creation_input_tokens")) {
        tokens.cache_creation = *value;
        tokens.cache_reported = true;
    }
}

void readOpenAiUsage(const Json& usage, TokenUsage& tokens) {
    auto prompt = integerMember(usage, "prompt_tokens").value_or(0);
    tokens.cache_read = 0;
    if (const Json* details = member(usage, "prompt_tokens_details")) {
        if (auto cached = integerMember(*details, "cached_tokens")) {
            tokens.cache_read = *cached;
            tokens.cache_reported = true;
        }
    }
    tokens.input = std::max<std::int64_t>(0, prompt - tokens.cache_read);
    tokens.cache_creation = 0;
    tokens.output = integerMember(usage, "completion_tokens").value_or(0);
}

Json openAiUsageJson(const TokenUsage& tokens) {
    std::int64_t prompt = tokens.input + tokens.cache_read + tokens.cache_creation;
    Json usage{{"prompt_tokens", prompt},
               {"completion_tokens", tokens.output},
               {"total_tokens", prompt + tokens.output}};
    if (tokens.cache_reported) {
        usage["prompt_tokens_details"] = Json{{"cached_tokens", tokens.cache_read}};
    }
    return usage;
}

Json anthropicUsageJson(const TokenUsage& tokens) {
    Json usage{{"input_tokens", tokens.input}, {"output_tokens", tokens.output}};
    if (tokens.cache_reported) {
        usage["cache_creation_input_tokens"] = tokens.cache_creation;
        usage["cache_read_input_tokens"] = tokens.cache_read;
    }
    return usage;
}

std::string_view anthropicErrorType(unsigned status) {
    switch (status) {
        case 400:
            return "invalid_request_error";
        case 401:
            return "authentication_error";
        case 402:
            return "billing_error";
        case 403:
            return "permission_error";
        case 404:
            return "not_found_error";
        case 413:
            return "request_too_large";
        case 429:
            return "rate_limit_error";
        case 503:
        case 529:
            return "overloaded_error";
        default:
            return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

// Generic types for bodies that named none: OpenAI SDKs branch on the HTTP status, not the type.
std::string_view openAiErrorType(unsigned status) {
    return status >= 500 ? "server_error" : "invalid_request_error";
}

Json openAiErrorJson(std::string_view message, std::string_view type, std::string_view code) {
    return Json{{"error", {{"message", message}, {"type", type}, {"code", code}}}};
}

Json anthropicErrorJson(std::string_view type, std::string_view message) {
    return Json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

Json openAiErrorFromAnthropic(const Json& error) {
    auto type = stringMember(error, "type").value_or("api_error");
    std::string_view openai_type = type;
    if (type == "api_error" || type == "overloaded_error") openai_type = "server_error";
    return openAiErrorJson(stringMember(error, "message").value_or("upstream error"), openai_type,
                           type);
}

namespace {

// A non-JSON error body (an HTML page from a proxy, say) still tells the client something.
constexpr std::size_t kMaxRawMessage = 512;

std::string rawMessage(unsigned status, std::string_view body) {
    if (body.empty()) return "upstream answered " + std::to_string(status);
    std::string text(body.substr(0, kMaxRawMessage));
    if (body.size() > kMaxRawMessage) text += "...";
    return text;
}

}  // namespace
}  // namespace detail

using detail::Json;

TranslatedBody anthropicToOpenAiResponse(std::string_view anthropic_body, std::int64_t created) {
    Json in = detail::parseJson(anthropic_body);
    const Json* content = detail::member(in, "content");
    if (content == nullptr || !content->is_array()) {
        return {.error = "the upstream response is not an Anthropic message"};
    }
    std::string text;
    std::string reasoning;
    Json calls = Json::array();
    for (const Json& block : *content) {
        auto type = detail::stringMember(block, "type").value_or("");
        if (type == "text") {
            text += detail::stringMember(block, "text").value_or("");
        } else if (type == "thinking") {
            reasoning += detail::stringMember(block, "thinking").value_or("");
        } else if (type == "tool_use") {
            const Json* input = detail::member(block, "input");
            calls.push_back(Json{
                {"id", detail::stringMember(block, "id").value_or("")},
                {"type", "function"},
                {"function",
                 {{"name", detail::stringMember(block, "name").value_or("")},
                  {"arguments", detail::dumpJson(input != nullptr ? *input : Json::object())}}}});
        }
    }
    Json message{{"role", "assistant"}};
    message["content"] = text.empty() && !calls.empty() ? Json(nullptr) : Json(text);
    if (!reasoning.empty()) message["reasoning_content"] = reasoning;
    if (!calls.empty()) message["tool_calls"] = std::move(calls);

    auto stop_reason = detail::stringMember(in, "stop_reason").value_or("end_turn");
    detail::TokenUsage tokens;
    if (const Json* usage = detail::member(in, "usage")) detail::readAnthropicUsage(*usage, tokens);
    Json out{{"id", detail::stringMember(in, "id").value_or("")},
             {"object", "chat.completion"},
             {"created", created},
             {"model", detail::stringMember(in, "model").value_or("")},
             {"choices",
              Json::array({Json{{"index", 0},
                                {"message", std::move(message)},
                                {"logprobs", nullptr},
                                {"finish_reason", detail::openAiFinishReason(stop_reason)}}})},
             {"usage", detail::openAiUsageJson(tokens)}};
    return {.body = detail::dumpJson(out)};
}

TranslatedBody openAiToAnthropicResponse(std::string_view openai_body) {
    Json in = detail::parseJson(openai_body);
    const Json* choices = detail::member(in, "choices");
    if (choices == nullptr || !choices->is_array() || choices->empty()) {
        return {.error = "the upstream response is not a chat completion"};
    }
    const Json& choice = (*choices)[0];
    const Json* message = detail::member(choice, "message");
    if (message == nullptr || !message->is_object()) {
        return {.error = "the upstream response has no message"};
    }
    Json content = Json::array();
    if (auto text = detail::stringMember(*message, "content"); text && !text->empty()) {
        content.push_back(Json{{"type", "text"}, {"text", *text}});
    }
    if (const Json* calls = detail::member(*message, "tool_calls"); calls && calls->is_array()) {
        for (const Json& call : *calls) {
            const Json& fn = detail::objectMember(call, "function");
            auto arguments = detail::stringMember(fn, "arguments").value_or("");
            Json input = arguments.empty() ? Json::object() : detail::parseJson(arguments);
            if (!input.is_object()) {
                return {.error = "the upstream's tool call arguments are not a JSON object"};
            }
            content.push_back(Json{{"type", "tool_use"},
                                   {"id", detail::stringMember(call, "id").value_or("")},
                                   {"name", detail::stringMember(fn, "name").value_or("")},
                                   {"input", std::move(input)}});
        }
    }
    auto finish = detail::stringMember(choice, "finish_reason").value_or("stop");
    auto stop_sequence = detail::matchedStopSequence(choice, finish);
    detail::TokenUsage tokens;
    if (const Json* usage = detail::member(in, "usage")) detail::readOpenAiUsage(*usage, tokens);
    Json out{{"id", detail::stringMember(in, "id").value_or("")},
             {"type", "message"},
             {"role", "assistant"},
             {"model", detail::stringMember(in, "model").value_or("")},
             {"content", std::move(content)},
             {"stop_reason", stop_sequence ? "stop_sequence" : detail::anthropicStopReason(finish)},
             {"stop_sequence", stop_sequence ? Json(*stop_sequence) : Json(nullptr)},
             {"usage", detail::anthropicUsageJson(tokens)}};
    return {.body = detail::dumpJson(out)};
}

TranslatedBody translateResponseBody(Translation translation, std::string_view upstream_body,
                                     std::int64_t created) {
    switch (translation) {
        case Translation::OpenAiToAnthropic:
            return anthropicToOpenAiResponse(upstream_body, created);
        case Translation::AnthropicToOpenAi:
            return openAiToAnthropicResponse(upstream_body);
        case Translation::ResponsesToAnthropic:
            return anthropicToResponsesResponse(upstream_body, created);
        case Translation::None:
            break;
    }
    return {.body = std::string(upstream_body)};
}

std::string anthropicErrorToOpenAi(unsigned status, std::string_view anthropic_body) {
    Json in = detail::parseJson(anthropic_body);
    const Json* error = detail::member(in, "error");
    if (error == nullptr || !detail::stringMember(*error, "type") ||
        !detail::stringMember(*error, "message")) {
        return detail::dumpJson(detail::openAiErrorJson(detail::rawMessage(status, anthropic_body),
                                                        detail::openAiErrorType(status),
                                                        "upstream_error"));
    }
    return detail::dumpJson(detail::openAiErrorFromAnthropic(*error));
}

std::string openAiErrorToAnthropic(unsigned status, std::string_view openai_body) {
    Json in = detail::parseJson(openai_body);
    const Json* error = detail::member(in, "error");
    auto message = error ? detail::stringMember(*error, "message") : std::nullopt;
    std::string text = message ? std::string(*message) : detail::rawMessage(status, openai_body);
    return detail::dumpJson(detail::anthropicErrorJson(detail::anthropicErrorType(status), text));
}

std::string translateErrorBody(Translation translation, unsigned status,
                               std::string_view upstream_body) {
    switch (translation) {
        case Translation::OpenAiToAnthropic:
        case Translation::ResponsesToAnthropic:
            return anthropicErrorToOpenAi(status, upstream_body);
        case Translation::AnthropicToOpenAi:
            return openAiErrorToAnthropic(status, upstream_body);
        case Translation::None:
            break;
    }
    return std::string(upstream_body);
}

std::string anthropicErrorBody(unsigned status, std::string_view message) {
    return detail::dumpJson(
        detail::anthropicErrorJson(detail::anthropicErrorType(status), message));
}

}  // namespace aiproxy::ai
