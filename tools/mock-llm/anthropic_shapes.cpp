#include "anthropic_shapes.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::mock {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;  // Anthropic's field order, as in its docs

template <typename Json>
std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string invalid(std::string_view message) {
    return anthropicErrorJson("invalid_request_error", message);
}

// Text of a string content or of the text blocks of a block array.
std::string blocksText(const json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (!content.is_array()) return text;
    for (const json& block : content) {
        if (!block.is_object() || block.value("type", "") != "text") continue;
        auto block_text = block.find("text");
        if (block_text == block.end() || !block_text->is_string()) continue;
        if (!text.empty()) text += ' ';
        text += block_text->get_ref<const std::string&>();
    }
    return text;
}

std::string event(std::string_view name, const ordered_json& data) {
    return "event: " + std::string(name) + "\ndata: " + dump(data) + "\n\n";
}

std::int64_t outputTokens(const MessageReply& reply) {
    return static_cast<std::int64_t>(reply.completion.deltas.size());
}

const char* stopReason(const MessageReply& reply) {
    return reply.truncated ? "max_tokens" : "end_turn";
}

ordered_json messageBase(const MessageReply& reply) {
    return ordered_json{{"id", reply.completion.id},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"model", reply.completion.model}};
}

}  // namespace

std::string anthropicErrorJson(std::string_view type, std::string_view message) {
    return dump(ordered_json{{"type", "error"},
                             {"error", ordered_json{{"type", type}, {"message", message}}}});
}

std::string anthropicErrorJsonForStatus(int status, std::string_view message) {
    switch (status) {
        case 401:
            return anthropicErrorJson("authentication_error", message);
        case 403:
            return anthropicErrorJson("permission_error", message);
        case 404:
            return anthropicErrorJson("not_found_error", message);
        case 413:
            return anthropicErrorJson("request_too_large", message);
        case 429:
            return anthropicErrorJson("rate_limit_error", message);
        case 529:
            return anthropicErrorJson("overloaded_error", message);
        default:
            break;
    }
    return anthropicErrorJson(status >= 500 ? "api_error" : "invalid_request_error", message);
}

MessagesRequest parseMessagesRequest(std::string_view body) {
    MessagesRequest request;
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        request.error = invalid("The request body is not valid JSON.");
        return request;
    }
    auto model = doc.find("model");
    if (model == doc.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        request.error = invalid("model: Field required");
        return request;
    }
    request.chat.model = model->get<std::string>();
    auto max_tokens = doc.find("max_tokens");
    if (max_tokens == doc.end() || !max_tokens->is_number_integer() || *max_tokens < 1) {
        request.error = invalid("max_tokens: Field required (an integer >= 1)");
        return request;
    }
    request.max_tokens = max_tokens->get<std::int64_t>();
    auto messages = doc.find("messages");
    if (messages == doc.end() || !messages->is_array() || messages->empty()) {
        request.error = invalid("messages: Field required (a non-empty array)");
        return request;
    }
    for (const json& message : *messages) {
        if (!message.is_object() || !message.contains("content")) {
            request.error = invalid("messages: each message needs a role and a content");
            return request;
        }
        std::string role = message.value("role", "");
        if (role != "user" && role != "assistant") {
            request.error = invalid("messages: role must be \"user\" or \"assistant\"");
            return request;
        }
        std::string text = blocksText(message["content"]);
        request.chat.prompt_tokens += countWords(text);
        if (role == "user") request.chat.last_user_text = std::move(text);
    }
    if (auto system = doc.find("system"); system != doc.end()) {
        request.chat.prompt_tokens += countWords(blocksText(*system));
    }
    if (auto stream = doc.find("stream"); stream != doc.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            request.error = invalid("stream: Input should be a valid boolean");
            return request;
        }
        request.chat.stream = stream->get<bool>();
    }
    return request;
}

MessageReply makeMessageReply(const MessagesRequest& request, std::string_view backend_name,
                              std::string id) {
    MessageReply reply{.completion =
                           makeChatCompletion(request.chat, backend_name, std::move(id), 0)};
    auto limit = static_cast<std::size_t>(request.max_tokens);
    if (reply.completion.deltas.size() > limit) {
        reply.completion.deltas.resize(limit);
        reply.truncated = true;
    }
    return reply;
}

std::string messageJson(const MessageReply& reply) {
    std::string text;
    for (const std::string& delta : reply.completion.deltas)
        text += delta;
    ordered_json body = messageBase(reply);
    body["content"] = ordered_json::array({ordered_json{{"type", "text"}, {"text", text}}});
    body["stop_reason"] = stopReason(reply);
    body["stop_sequence"] = nullptr;
    body["usage"] = ordered_json{{"input_tokens", reply.completion.prompt_tokens},
                                 {"output_tokens", outputTokens(reply)}};
    return dump(body);
}

std::vector<std::string> messageEvents(const MessageReply& reply) {
    std::vector<std::string> events;
    events.reserve(reply.completion.deltas.size() + 6);
    ordered_json message = messageBase(reply);
    message["content"] = ordered_json::array();
    message["stop_reason"] = nullptr;
    message["stop_sequence"] = nullptr;
    // Anthropic's message_start reports the whole prompt and a first output token.
    message["usage"] =
        ordered_json{{"input_tokens", reply.completion.prompt_tokens}, {"output_tokens", 1}};
    events.push_back(
        event("message_start", ordered_json{{"type", "message_start"}, {"message", message}}));
    events.push_back(event("content_block_start",
                           ordered_json{{"type", "content_block_start"},
                                        {"index", 0},
                                        {"content_block", {{"type", "text"}, {"text", ""}}}}));
    events.push_back(event("ping", ordered_json{{"type", "ping"}}));
    for (const std::string& delta : reply.completion.deltas) {
        events.push_back(event("content_block_delta",
                               ordered_json{{"type", "content_block_delta"},
                                            {"index", 0},
                                            {"delta", {{"type", "text_delta"}, {"text", delta}}}}));
    }
    events.push_back(
        event("content_block_stop", ordered_json{{"type", "content_block_stop"}, {"index", 0}}));
    events.push_back(event(
        "message_delta",
        ordered_json{{"type", "message_delta"},
                     {"delta", {{"stop_reason", stopReason(reply)}, {"stop_sequence", nullptr}}},
                     {"usage", {{"output_tokens", outputTokens(reply)}}}}));
    events.push_back(event("message_stop", ordered_json{{"type", "message_stop"}}));
    return events;
}

}  // namespace aiproxy::mock
