// Request bodies, OpenAI chat completions -> Anthropic messages (see anthropic_translation.hpp
// for the mapping decisions; the other direction is in openai_request.cpp).

#include <algorithm>
#include <string>
#include <utility>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace detail {

std::string at(std::string_view path, std::size_t index) {
    std::string out(path);
    out += '[';
    out += std::to_string(index);
    out += ']';
    return out;
}

std::string quoted(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

Json textBlock(std::string_view text) {
    return Json{{"type", "text"}, {"text", text}};
}

// Merges a repeated role into the previous turn: Anthropic wants user and assistant turns to
// alternate. String contents become text blocks when merged.
void appendTurn(Json& messages, std::string_view role, Json content) {
    auto asBlocks = [](Json& value) {
        if (value.is_string()) value = Json::array({textBlock(textOf(value))});
    };
    if (!messages.empty() && textOf(messages.back()["role"]) == role) {
        Json& previous = messages.back()["content"];
        asBlocks(previous);
        asBlocks(content);
        for (Json& block : content)
            previous.push_back(std::move(block));
        return;
    }
    messages.push_back(Json{{"role", role}, {"content", std::move(content)}});
}

namespace {

// "data:image/png;base64,AAAA" -> {type: base64, media_type, data}; an http(s) URL -> {type: url}.
std::string imageSource(std::string_view url, std::string_view path, Json& source) {
    if (url.starts_with("data:")) {
        auto comma = url.find(',');
        auto meta = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
        if (comma == std::string_view::npos || !meta.ends_with(";base64")) {
            return std::string(path) + ": only base64 data URLs are supported";
        }
        source = Json{{"type", "base64"},
                      {"media_type", meta.substr(0, meta.size() - 7)},
                      {"data", url.substr(comma + 1)}};
        return {};
    }
    if (url.empty()) return std::string(path) + ": must be a URL";
    source = Json{{"type", "url"}, {"url", url}};
    return {};
}

// OpenAI content parts of a user message -> Anthropic blocks.
std::string userBlocks(const Json& parts, std::string_view path, Json& blocks) {
    blocks = Json::array();
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const Json& part = parts[i];
        std::string part_path = at(path, i);
        auto type = stringMember(part, "type").value_or("");
        if (type == "text") {
            blocks.push_back(textBlock(stringMember(part, "text").value_or("")));
        } else if (type == "image_url") {
            const Json* image = member(part, "image_url");
            std::string_view url;
            if (image != nullptr) {
                url =
                    image->is_string() ? textOf(*image) : stringMember(*image, "url").value_or("");
            }
            Json source;
            if (auto error = imageSource(url, part_path + ".image_url.url", source); !error.empty())
                return error;
            blocks.push_back(Json{{"type", "image"}, {"source", std::move(source)}});
        } else {
            return part_path + ".type: content part " + quoted(type) +
                   " cannot be sent to an Anthropic upstream";
        }
    }
    return {};
}

// Text of a system/developer/tool message: a string or text parts.
std::string textParts(const Json& content, std::string_view path, Json& blocks) {
    blocks = Json::array();
    if (content.is_string()) {
        blocks.push_back(textBlock(textOf(content)));
        return {};
    }
    if (!content.is_array()) return std::string(path) + ": must be a string or an array";
    for (std::size_t i = 0; i < content.size(); ++i) {
        if (stringMember(content[i], "type").value_or("") != "text") {
            return at(path, i) + ".type: only text parts are supported here";
        }
        blocks.push_back(textBlock(stringMember(content[i], "text").value_or("")));
    }
    return {};
}

std::string assistantBlocks(const Json& message, std::string_view path, Json& content) {
    const Json* text = member(message, "content");
    const Json* calls = member(message, "tool_calls");
    bool has_calls = calls != nullptr && calls->is_array() && !calls->empty();
    if (text != nullptr && text->is_string() && !has_calls) {
        content = *text;
        return {};
    }
    content = Json::array();
    if (text != nullptr && text->is_string() && !text->get_ref<const std::string&>().empty()) {
        content.push_back(textBlock(textOf(*text)));
    } else if (text != nullptr && text->is_array()) {
        for (std::size_t i = 0; i < text->size(); ++i) {
            const Json& part = (*text)[i];
            auto type = stringMember(part, "type").value_or("");
            auto value = stringMember(part, type == "refusal" ? "refusal" : "text");
            if ((type != "text" && type != "refusal") || !value) {
                return at(std::string(path) + ".content", i) + ": only text parts are supported";
            }
            if (!value->empty()) content.push_back(textBlock(*value));
        }
    } else if (text != nullptr && !text->is_null() && !text->is_string()) {
        return std::string(path) + ".content: must be a string, an array or null";
    }
    if (!has_calls) return {};
    for (std::size_t i = 0; i < calls->size(); ++i) {
        const Json& call = (*calls)[i];
        std::string call_path = at(std::string(path) + ".tool_calls", i);
        const Json* function = member(call, "function");
        auto name = function ? stringMember(*function, "name") : std::nullopt;
        if (!name) return call_path + ".function.name: required";
        Json input = Json::object();
        auto arguments = stringMember(*function, "arguments").value_or("");
        if (!arguments.empty()) {
            input = parseJson(arguments);
            if (!input.is_object()) {
                return call_path + ".function.arguments: must be a JSON object";
            }
        }
        content.push_back(Json{{"type", "tool_use"},
                               {"id", stringMember(call, "id").value_or("")},
                               {"name", *name},
                               {"input", std::move(input)}});
    }
    return {};
}

std::string toAnthropicTools(const Json& tools, Json& out) {
    if (!tools.is_array()) return "tools: must be an array";
    out = Json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const Json& tool = tools[i];
        std::string path = at("tools", i);
        if (stringMember(tool, "type").value_or("function") != "function") {
            return path + ".type: only function tools can be sent to an Anthropic upstream";
        }
        const Json* function = member(tool, "function");
        auto name = function ? stringMember(*function, "name") : std::nullopt;
        if (!name) return path + ".function.name: required";
        Json converted{{"name", *name}};
        if (auto description = stringMember(*function, "description")) {
            converted["description"] = *description;
        }
        const Json* parameters = member(*function, "parameters");
        converted["input_schema"] = parameters != nullptr && parameters->is_object()
                                        ? *parameters
                                        : Json{{"type", "object"}, {"properties", Json::object()}};
        out.push_back(std::move(converted));
    }
    return {};
}

std::string toAnthropicToolChoice(const Json& choice, Json& out) {
    if (choice.is_string()) {
        auto value = textOf(choice);
        if (value == "auto" || value == "none") {
            out = Json{{"type", value}};
        } else if (value == "required") {
            out = Json{{"type", "any"}};
        } else {
            return "tool_choice: must be auto, none, required or a function";
        }
        return {};
    }
    const Json* function = member(choice, "function");
    auto name = function ? stringMember(*function, "name") : std::nullopt;
    if (!name) return "tool_choice.function.name: required";
    out = Json{{"type", "tool"}, {"name", *name}};
    return {};
}

// Fields with no Anthropic counterpart that would change what the client gets back.
std::string rejectUntranslatable(const Json& in) {
    if (auto n = integerMember(in, "n"); n && *n > 1) {
        return "n: an Anthropic upstream returns one choice";
    }
    if (const Json* format = member(in, "response_format")) {
        auto type = stringMember(*format, "type").value_or("text");
        if (!format->is_null() && type != "text") {
            return "response_format: " + quoted(type) +
                   " is not supported by an Anthropic upstream";
        }
    }
    if (boolMember(in, "logprobs").value_or(false)) {
        return "logprobs: not supported by an Anthropic upstream";
    }
    if (const Json* audio = member(in, "audio"); audio != nullptr && !audio->is_null()) {
        return "audio: not supported by an Anthropic upstream";
    }
    if (const Json* modalities = member(in, "modalities"); modalities && modalities->is_array()) {
        for (const Json& modality : *modalities) {
            if (textOf(modality) != "text") {
                return "modalities: only text is supported by an Anthropic upstream";
            }
        }
    }
    for (std::string_view legacy : {"functions", "function_call"}) {
        if (const Json* value = member(in, legacy); value != nullptr && !value->is_null()) {
            return std::string(legacy) + ": deprecated; use tools and tool_choice";
        }
    }
    return {};
}

std::string toAnthropicMessages(const Json& messages, Json& system, Json& out) {
    static const Json kNull;
    if (!messages.is_array()) return "messages: must be an array";
    out = Json::array();
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const Json& message = messages[i];
        std::string path = at("messages", i);
        auto role = stringMember(message, "role").value_or("");
        const Json* content = member(message, "content");
        const Json& body = content != nullptr ? *content : kNull;
        Json blocks;
        std::string error;
        if (role == "system" || role == "developer") {
            error = textParts(body, path + ".content", blocks);
            for (Json& block : blocks)
                system.push_back(std::move(block));
        } else if (role == "user") {
            if (body.is_string()) {
                blocks = body;
            } else if (body.is_array()) {
                error = userBlocks(body, path + ".content", blocks);
            } else {
                error = path + ".content: must be a string or an array";
            }
            if (error.empty()) appendTurn(out, "user", std::move(blocks));
        } else if (role == "assistant") {
            error = assistantBlocks(message, path, blocks);
            bool empty = blocks.empty() || (blocks.is_string() && textOf(blocks).empty());
            if (error.empty() && !empty) appendTurn(out, "assistant", std::move(blocks));
        } else if (role == "tool") {
            auto id = stringMember(message, "tool_call_id");
            if (!id) return path + ".tool_call_id: required";
            Json result{{"type", "tool_result"}, {"tool_use_id", *id}};
            if (body.is_string()) {
                result["content"] = body;
            } else {
                error = textParts(body, path + ".content", blocks);
                result["content"] = std::move(blocks);
            }
            if (error.empty()) appendTurn(out, "user", Json::array({std::move(result)}));
        } else {
            error = path + ".role: " + quoted(role) + " cannot be sent to an Anthropic upstream";
        }
        if (!error.empty()) return error;
    }
    return {};
}

}  // namespace

std::string openAiChatToAnthropic(const Json& in, const AnthropicRequestOptions& options,
                                  Json& out) {
    if (!in.is_object()) return "the request body must be a JSON object";
    if (auto error = rejectUntranslatable(in); !error.empty()) return error;
    out = Json::object();
    if (const Json* model = member(in, "model")) out["model"] = *model;

    Json system = Json::array();
    Json messages;
    const Json* input = member(in, "messages");
    if (input == nullptr) return "messages: required";
    if (auto error = toAnthropicMessages(*input, system, messages); !error.empty()) return error;
    if (system.size() == 1) {
        out["system"] = system[0]["text"];
    } else if (!system.empty()) {
        out["system"] = std::move(system);
    }
    out["messages"] = std::move(messages);

    std::int64_t max_tokens = options.default_max_tokens;
    for (std::string_view key : {"max_tokens", "max_completion_tokens"}) {
        const Json* value = member(in, key);
        if (value == nullptr || value->is_null()) continue;
        auto tokens = integerMember(in, key);
        if (!tokens || *tokens < 1) return std::string(key) + ": must be a positive integer";
        max_tokens = *tokens;
    }
    out["max_tokens"] = max_tokens;

    if (const Json* stop = member(in, "stop"); stop != nullptr && !stop->is_null()) {
        Json sequences = stop->is_string() ? Json::array({*stop}) : *stop;
        bool strings =
            sequences.is_array() && std::all_of(sequences.begin(), sequences.end(),
                                                [](const Json& s) { return s.is_string(); });
        if (!strings) return "stop: must be a string or an array of strings";
        if (!sequences.empty()) out["stop_sequences"] = std::move(sequences);
    }
    if (const Json* temperature = member(in, "temperature");
        temperature && temperature->is_number()) {
        out["temperature"] = std::clamp(temperature->get<double>(), 0.0, 1.0);
    }
    if (const Json* top_p = member(in, "top_p"); top_p && top_p->is_number()) {
        out["top_p"] = *top_p;
    }
    if (auto stream = boolMember(in, "stream")) out["stream"] = *stream;
    if (auto user = stringMember(in, "user")) out["metadata"] = Json{{"user_id", *user}};

    const Json* tools = member(in, "tools");
    if (tools != nullptr && !tools->is_null() && !tools->empty()) {
        Json converted;
        if (auto error = toAnthropicTools(*tools, converted); !error.empty()) return error;
        out["tools"] = std::move(converted);
        Json choice;
        if (const Json* given = member(in, "tool_choice"); given && !given->is_null()) {
            if (auto error = toAnthropicToolChoice(*given, choice); !error.empty()) return error;
        }
        bool parallel = boolMember(in, "parallel_tool_calls").value_or(true);
        if (!parallel && stringMember(choice, "type").value_or("") != "none") {
            if (choice.is_null()) choice = Json{{"type", "auto"}};
            choice["disable_parallel_tool_use"] = true;
        }
        if (!choice.is_null()) out["tool_choice"] = std::move(choice);
    }
    return {};
}

}  // namespace detail

TranslatedBody openAiChatToAnthropicRequest(std::string_view openai_body,
                                            const AnthropicRequestOptions& options) {
    detail::Json in = detail::parseJson(openai_body);
    if (in.is_discarded()) return {.error = "the request body is not valid JSON"};
    detail::Json out;
    if (auto error = detail::openAiChatToAnthropic(in, options, out); !error.empty()) {
        return {.error = std::move(error)};
    }
    return {.body = detail::dumpJson(out)};
}

}  // namespace aiproxy::ai
