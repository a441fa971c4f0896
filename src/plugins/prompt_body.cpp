#include "prompt_body.hpp"

namespace aiproxy::plugins {
namespace {

using Json = nlohmann::json;

Json messageOf(const config::PromptMessage& message) {
    return Json{{"role", message.role}, {"content", message.content}};
}

// Joins system texts around an existing system prompt, which may be a string or (Anthropic) a
// list of text blocks.
void joinSystem(Json& body, std::string_view key, const std::vector<std::string>& before,
                const std::vector<std::string>& after) {
    if (before.empty() && after.empty()) return;
    Json& system = body[std::string(key)];
    if (system.is_array()) {
        Json blocks = Json::array();
        for (const auto& text : before)
            blocks.push_back(Json{{"type", "text"}, {"text", text}});
        for (auto& block : system)
            blocks.push_back(std::move(block));
        for (const auto& text : after)
            blocks.push_back(Json{{"type", "text"}, {"text", text}});
        system = std::move(blocks);
        return;
    }
    std::vector<std::string> parts = before;
    if (system.is_string() && !system.get_ref<const std::string&>().empty()) {
        parts.push_back(system.get<std::string>());
    }
    parts.insert(parts.end(), after.begin(), after.end());
    std::string joined;
    for (const auto& part : parts) {
        if (!joined.empty()) joined += "\n\n";
        joined += part;
    }
    system = std::move(joined);
}

}  // namespace

PromptApi promptApiOf(std::string_view api_path) {
    while (api_path.starts_with('/'))
        api_path.remove_prefix(1);
    if (api_path.starts_with("v1/")) api_path.remove_prefix(3);
    if (api_path == "messages") return PromptApi::AnthropicMessages;
    if (api_path == "responses") return PromptApi::OpenAiResponses;
    return PromptApi::OpenAiChat;
}

std::string contentText(const Json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (!content.is_array()) return text;
    for (const auto& part : content) {
        const Json* piece = nullptr;
        if (part.is_string()) {
            piece = &part;
        } else if (part.is_object()) {
            auto found = part.find("text");
            if (found != part.end() && found->is_string()) piece = &*found;
        }
        if (!piece) continue;
        if (!text.empty()) text += ' ';
        text += piece->get_ref<const std::string&>();
    }
    return text;
}

std::vector<PromptText> conversationOf(const Json& body, PromptApi api) {
    std::vector<PromptText> conversation;
    if (!body.is_object()) return conversation;
    auto system_key = api == PromptApi::OpenAiResponses ? "instructions" : "system";
    if (api != PromptApi::OpenAiChat) {
        if (auto system = body.find(system_key); system != body.end()) {
            if (auto text = contentText(*system); !text.empty()) {
                conversation.push_back({"system", std::move(text)});
            }
        }
    }
    auto add = [&](const Json& message) {
        if (!message.is_object()) return;
        auto role = message.find("role");
        auto content = message.find("content");
        if (content == message.end()) return;
        conversation.push_back(
            {role != message.end() && role->is_string() ? role->get<std::string>() : "user",
             contentText(*content)});
    };
    auto list_key = api == PromptApi::OpenAiResponses ? "input" : "messages";
    if (auto messages = body.find(list_key); messages != body.end()) {
        if (messages->is_string()) {
            conversation.push_back({"user", messages->get<std::string>()});
        } else if (messages->is_array()) {
            for (const auto& message : *messages)
                add(message);
        }
    }
    // Legacy completions: the prompt is what the user wrote.
    if (auto prompt = body.find("prompt"); prompt != body.end()) {
        if (auto text = contentText(*prompt); !text.empty()) {
            conversation.push_back({"user", std::move(text)});
        }
    }
    return conversation;
}

bool decorate(Json& body, PromptApi api, const std::vector<config::PromptMessage>& before,
              const std::vector<config::PromptMessage>& after, std::string& problem) {
    if (!body.is_object()) {
        problem = "request body must be a JSON object";
        return false;
    }
    auto list_key = api == PromptApi::OpenAiResponses ? "input" : "messages";
    Json& messages = body[list_key];
    if (messages.is_null()) messages = Json::array();
    if (messages.is_string() && api == PromptApi::OpenAiResponses) {
        messages = Json::array({Json{{"role", "user"}, {"content", messages}}});
    }
    if (!messages.is_array()) {
        problem = std::string("request body's ") + list_key + " must be a list";
        return false;
    }
    // Anthropic and Responses keep system prompts out of the message list.
    bool system_apart = api != PromptApi::OpenAiChat;
    std::vector<std::string> system_before;
    std::vector<std::string> system_after;
    Json head = Json::array();
    for (const auto& message : before) {
        if (system_apart && message.role == "system") {
            system_before.push_back(message.content);
        } else {
            head.push_back(messageOf(message));
        }
    }
    for (auto& message : messages)
        head.push_back(std::move(message));
    for (const auto& message : after) {
        if (system_apart && message.role == "system") {
            system_after.push_back(message.content);
        } else {
            head.push_back(messageOf(message));
        }
    }
    messages = std::move(head);
    if (system_apart) {
        joinSystem(body, api == PromptApi::OpenAiResponses ? "instructions" : "system",
                   system_before, system_after);
    }
    return true;
}

std::string serializeBody(const Json& body) {
    return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

PromptRefusals::PromptRefusals(const StageBuild& build, std::string_view plugin) : plugin_(plugin) {
    if (build.cells) {
        rejected_ = build.cells->counter(
            "aiproxy_plugin_rejected_total", "Requests refused by a plugin, by route and plugin.",
            {{"route", build.route.id}, {"plugin", std::string(plugin)}});
    }
}

http::StageVerdict PromptRefusals::refuse(http::RequestContext& context, unsigned status,
                                          std::string message) const {
    if (rejected_) rejected_->add(context.services.metrics_slot);
    context.refusal = http::Refusal{.status = status,
                                    .message = std::move(message),
                                    .type = status < 500 ? "invalid_request_error" : "server_error",
                                    .code = "plugin_rejected",
                                    .plugin = plugin_,
                                    .top_level_message = true};
    return http::StageVerdict::Refuse;
}

}  // namespace aiproxy::plugins
