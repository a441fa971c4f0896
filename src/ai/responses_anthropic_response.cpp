// Non-streaming answers, Anthropic messages -> OpenAI Responses API `response` objects, and the
// pieces of that object the stream translation shares (see responses_translation.hpp).

#include <string>
#include <utility>

#include "aiproxy/ai/responses_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace detail {

Json responsesUsageJson(const TokenUsage& tokens) {
    std::int64_t input = tokens.input + tokens.cache_read + tokens.cache_creation;
    return Json{{"input_tokens", input},
                {"input_tokens_details", {{"cached_tokens", tokens.cache_read}}},
                {"output_tokens", tokens.output},
                {"output_tokens_details", {{"reasoning_tokens", 0}}},
                {"total_tokens", input + tokens.output}};
}

std::string_view responsesStatus(std::string_view anthropic_stop_reason, Json& incomplete_details) {
    if (anthropic_stop_reason == "max_tokens") {
        incomplete_details = Json{{"reason", "max_output_tokens"}};
        return "incomplete";
    }
    if (anthropic_stop_reason == "refusal") {
        incomplete_details = Json{{"reason", "content_filter"}};
        return "incomplete";
    }
    incomplete_details = nullptr;
    return "completed";
}

std::string responsesId(std::string_view anthropic_id) {
    if (anthropic_id.starts_with("msg_")) anthropic_id.remove_prefix(4);
    return "resp_" + std::string(anthropic_id);
}

Json outputTextPart(std::string_view text) {
    return Json{{"type", "output_text"},
                {"text", text},
                {"annotations", Json::array()},
                {"logprobs", Json::array()}};
}

Json messageItem(std::string_view id, std::string_view status, Json content) {
    return Json{{"id", id},
                {"type", "message"},
                {"status", status},
                {"role", "assistant"},
                {"content", std::move(content)}};
}

// The request's own settings are not echoed (the translation does not keep the request); the
// fields are there with their defaults because SDK types declare them.
Json responsesObject(std::string_view id, std::int64_t created, std::string_view model,
                     std::string_view status, Json output, Json incomplete_details, Json usage) {
    return Json{{"id", id},
                {"object", "response"},
                {"created_at", created},
                {"status", status},
                {"error", nullptr},
                {"incomplete_details", std::move(incomplete_details)},
                {"instructions", nullptr},
                {"max_output_tokens", nullptr},
                {"model", model},
                {"output", std::move(output)},
                {"parallel_tool_calls", true},
                {"previous_response_id", nullptr},
                {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
                {"store", false},
                {"temperature", nullptr},
                {"text", {{"format", {{"type", "text"}}}}},
                {"tool_choice", "auto"},
                {"tools", Json::array()},
                {"top_p", nullptr},
                {"truncation", "disabled"},
                {"usage", std::move(usage)},
                {"user", nullptr},
                {"metadata", Json::object()}};
}

}  // namespace detail

using detail::Json;

TranslatedBody anthropicToResponsesResponse(std::string_view anthropic_body, std::int64_t created) {
    Json in = detail::parseJson(anthropic_body);
    const Json* content = detail::member(in, "content");
    if (content == nullptr || !content->is_array()) {
        return {.error = "the upstream response is not an Anthropic message"};
    }
    Json parts = Json::array();
    for (const Json& block : *content) {
        if (detail::stringMember(block, "type").value_or("") != "text") continue;
        parts.push_back(detail::outputTextPart(detail::stringMember(block, "text").value_or("")));
    }
    auto id = detail::stringMember(in, "id").value_or("");
    Json incomplete;
    auto status = detail::responsesStatus(
        detail::stringMember(in, "stop_reason").value_or("end_turn"), incomplete);
    Json output = Json::array();
    if (!parts.empty()) output.push_back(detail::messageItem(id, status, std::move(parts)));
    detail::TokenUsage tokens;
    if (const Json* usage = detail::member(in, "usage")) detail::readAnthropicUsage(*usage, tokens);
    Json out = detail::responsesObject(
        detail::responsesId(id), created, detail::stringMember(in, "model").value_or(""), status,
        std::move(output), std::move(incomplete), detail::responsesUsageJson(tokens));
    return {.body = detail::dumpJson(out)};
}

}  // namespace aiproxy::ai
