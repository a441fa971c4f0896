// Request bodies, Anthropic messages -> OpenAI chat completions (see anthropic_translation.hpp
// for the mapping decisions; the other direction is in anthropic_request.cpp).

#include <algorithm>
#include <string>
#include <utility>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace detail {
namespace {

// Anthropic content blocks of one user message -> OpenAI tool messages (first: they must follow
// the assistant's tool_calls) and the remaining user content.
std::string fromAnthropicUser(const Json& content, std::string_view path, Json& out) {
    if (content.is_string()) {
        out.push_back(Json{{"role", "user"}, {"content", content}});
        return {};
    }
    if (!content.is_array()) return std::string(path) + ": must be a string or an array";
    Json parts = Json::array();
    for (std::size_t i = 0; i < content.size(); ++i) {
        const Json& block = content[i];
        std::string block_path = at(path, i);
        auto type = stringMember(block, "type").value_or("");
        if (type == "text") {
            parts.push_back(textBlock(stringMember(block, "text").value_or("")));
        } else if (type == "image") {
            const Json* source = member(block, "source");
            auto kind = source ? stringMember(*source, "type").value_or("") : "";
            std::string url;
            if (kind == "base64") {
                url = "data:" + std::string(stringMember(*source, "media_type").value_or("")) +
                      ";base64," + std::string(stringMember(*source, "data").value_or(""));
            } else if (kind == "url") {
                url = stringMember(*source, "url").value_or("");
            } else {
                return block_path + ".source.type: must be base64 or url";
            }
            parts.push_back(Json{{"type", "image_url"}, {"image_url", {{"url", url}}}});
        } else if (type == "tool_result") {
            auto id = stringMember(block, "tool_use_id");
            if (!id) return block_path + ".tool_use_id: required";
            std::string text;
            const Json* result = member(block, "content");
            if (result != nullptr && result->is_string()) {
                text = textOf(*result);
            } else if (result != nullptr && result->is_array()) {
                for (std::size_t j = 0; j < result->size(); ++j) {
                    if (stringMember((*result)[j], "type").value_or("") != "text") {
                        return at(block_path + ".content", j) +
                               ": only text tool results can be sent to an OpenAI-style upstream";
                    }
                    if (!text.empty()) text += '\n';
                    text += stringMember((*result)[j], "text").value_or("");
                }
            }
            out.push_back(Json{{"role", "tool"}, {"tool_call_id", *id}, {"content", text}});
        } else {
            return block_path + ".type: " + quoted(type) +
                   " cannot be sent to an OpenAI-style upstream";
        }
    }
    if (parts.size() == 1 && textOf(parts[0]["type"]) == "text") {
        out.push_back(Json{{"role", "user"}, {"content", parts[0]["text"]}});
    } else if (!parts.empty()) {
        out.push_back(Json{{"role", "user"}, {"content", std::move(parts)}});
    }
    return {};
}

std::string fromAnthropicAssistant(const Json& content, std::string_view path, Json& out) {
    if (content.is_string()) {
        out.push_back(Json{{"role", "assistant"}, {"content", content}});
        return {};
    }
    if (!content.is_array()) return std::string(path) + ": must be a string or an array";
    std::string text;
    Json calls = Json::array();
    for (std::size_t i = 0; i < content.size(); ++i) {
        const Json& block = content[i];
        auto type = stringMember(block, "type").value_or("");
        if (type == "text") {
            text += stringMember(block, "text").value_or("");
        } else if (type == "tool_use") {
            const Json* input = member(block, "input");
            calls.push_back(
                Json{{"id", stringMember(block, "id").value_or("")},
                     {"type", "function"},
                     {"function",
                      {{"name", stringMember(block, "name").value_or("")},
                       {"arguments", dumpJson(input != nullptr ? *input : Json::object())}}}});
        } else if (type != "thinking" && type != "redacted_thinking") {
            return at(path, i) + ".type: " + quoted(type) +
                   " cannot be sent to an OpenAI-style upstream";
        }
    }
    Json message{{"role", "assistant"}};
    message["content"] = text.empty() && !calls.empty() ? Json(nullptr) : Json(text);
    if (!calls.empty()) message["tool_calls"] = std::move(calls);
    out.push_back(std::move(message));
    return {};
}

std::string fromAnthropicTools(const Json& tools, Json& out) {
    if (!tools.is_array()) return "tools: must be an array";
    out = Json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const Json& tool = tools[i];
        std::string path = at("tools", i);
        auto type = stringMember(tool, "type").value_or("custom");
        if (type != "custom") {
            return path + ".type: " + quoted(type) + " tools run on Anthropic's servers only";
        }
        auto name = stringMember(tool, "name");
        if (!name) return path + ".name: required";
        Json function{{"name", *name}};
        if (auto description = stringMember(tool, "description")) {
            function["description"] = *description;
        }
        const Json* schema = member(tool, "input_schema");
        function["parameters"] = schema != nullptr ? *schema : Json{{"type", "object"}};
        out.push_back(Json{{"type", "function"}, {"function", std::move(function)}});
    }
    return {};
}

std::string fromAnthropicToolChoice(const Json& choice, Json& out) {
    auto type = stringMember(choice, "type").value_or("");
    if (type == "auto" || type == "none") {
        out = type;
    } else if (type == "any") {
        out = "required";
    } else if (type == "tool") {
        auto name = stringMember(choice, "name");
        if (!name) return "tool_choice.name: required";
        out = Json{{"type", "function"}, {"function", {{"name", *name}}}};
    } else {
        return "tool_choice.type: must be auto, any, tool or none";
    }
    return {};
}

}  // namespace

std::string anthropicToOpenAiChat(const Json& in, Json& out) {
    if (!in.is_object()) return "the request body must be a JSON object";
    out = Json::object();
    if (const Json* model = member(in, "model")) out["model"] = *model;

    Json messages = Json::array();
    if (const Json* system = member(in, "system"); system != nullptr && !system->is_null()) {
        std::string text;
        if (system->is_string()) {
            text = textOf(*system);
        } else if (system->is_array()) {
            for (std::size_t i = 0; i < system->size(); ++i) {
                auto part = stringMember((*system)[i], "text");
                if (!part) return at("system", i) + ": must be a text block";
                if (!text.empty()) text += "\n\n";
                text += *part;
            }
        } else {
            return "system: must be a string or an array of text blocks";
        }
        messages.push_back(Json{{"role", "system"}, {"content", text}});
    }
    const Json* input = member(in, "messages");
    if (input == nullptr || !input->is_array()) return "messages: must be an array";
    for (std::size_t i = 0; i < input->size(); ++i) {
        const Json& message = (*input)[i];
        std::string path = at("messages", i);
        auto role = stringMember(message, "role").value_or("");
        const Json* content = member(message, "content");
        if (content == nullptr) return path + ".content: required";
        std::string error;
        if (role == "user") {
            error = fromAnthropicUser(*content, path + ".content", messages);
        } else if (role == "assistant") {
            error = fromAnthropicAssistant(*content, path + ".content", messages);
        } else {
            error = path + ".role: must be user or assistant";
        }
        if (!error.empty()) return error;
    }
    out["messages"] = std::move(messages);

    if (auto max_tokens = integerMember(in, "max_tokens")) out["max_tokens"] = *max_tokens;
    if (const Json* stop = member(in, "stop_sequences"); stop && stop->is_array() && !stop->empty())
        out["stop"] = *stop;
    for (std::string_view key : {"temperature", "top_p"}) {
        if (const Json* value = member(in, key); value && value->is_number()) out[key] = *value;
    }
    if (auto stream = boolMember(in, "stream")) {
        out["stream"] = *stream;
        if (*stream) out["stream_options"] = Json{{"include_usage", true}};
    }
    if (const Json* metadata = member(in, "metadata")) {
        if (auto user = stringMember(*metadata, "user_id")) out["user"] = *user;
    }
    const Json* tools = member(in, "tools");
    if (tools != nullptr && !tools->is_null() && !tools->empty()) {
        Json converted;
        if (auto error = fromAnthropicTools(*tools, converted); !error.empty()) return error;
        out["tools"] = std::move(converted);
        if (const Json* choice = member(in, "tool_choice"); choice && choice->is_object()) {
            Json mapped;
            if (auto error = fromAnthropicToolChoice(*choice, mapped); !error.empty()) return error;
            out["tool_choice"] = std::move(mapped);
            if (boolMember(*choice, "disable_parallel_tool_use").value_or(false)) {
                out["parallel_tool_calls"] = false;
            }
        }
    }
    return {};
}

}  // namespace detail

TranslatedBody anthropicToOpenAiChatRequest(std::string_view anthropic_body) {
    detail::Json in = detail::parseJson(anthropic_body);
    if (in.is_discarded()) return {.error = "the request body is not valid JSON"};
    detail::Json out;
    if (auto error = detail::anthropicToOpenAiChat(in, out); !error.empty()) {
        return {.error = std::move(error)};
    }
    return {.body = detail::dumpJson(out)};
}

}  // namespace aiproxy::ai
