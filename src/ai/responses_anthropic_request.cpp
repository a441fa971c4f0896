// Request bodies, OpenAI Responses API -> Anthropic messages (see responses_translation.hpp for
// the mapping decisions).

#include <algorithm>
#include <string>
#include <utility>

#include "aiproxy/ai/responses_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace detail {
namespace {

bool present(const Json* value) {
    return value != nullptr && !value->is_null();
}

// Fields that ask for something an Anthropic upstream cannot give through this translation.
std::string rejectUntranslatable(const Json& in) {
    if (const Json* tools = member(in, "tools"); present(tools) && !tools->empty()) {
        return "tools: tools are not translated for an Anthropic upstream";
    }
    for (std::string_view key : {"previous_response_id", "conversation"}) {
        if (present(member(in, key))) {
            return std::string(key) +
                   ": stored conversations are not available through an "
                   "Anthropic upstream; send the whole input";
        }
    }
    if (boolMember(in, "background").value_or(false)) {
        return "background: not supported by an Anthropic upstream";
    }
    if (present(member(in, "prompt"))) return "prompt: prompt templates are not supported here";
    const Json& format = objectMember(objectMember(in, "text"), "format");
    if (auto type = stringMember(format, "type"); type && *type != "text") {
        return "text.format: " + quoted(*type) + " is not supported by an Anthropic upstream";
    }
    if (integerMember(in, "top_logprobs").value_or(0) > 0) {
        return "top_logprobs: not supported by an Anthropic upstream";
    }
    return {};
}

// The text blocks of one input message's content (a string or typed parts).
std::string contentBlocks(const Json& content, std::string_view path, Json& blocks) {
    blocks = Json::array();
    if (content.is_string()) {
        blocks.push_back(textBlock(textOf(content)));
        return {};
    }
    if (!content.is_array()) return std::string(path) + ": must be a string or an array";
    for (std::size_t i = 0; i < content.size(); ++i) {
        const Json& part = content[i];
        auto type = stringMember(part, "type").value_or("");
        auto text = stringMember(part, type == "refusal" ? "refusal" : "text");
        if ((type != "input_text" && type != "output_text" && type != "refusal") || !text) {
            return at(path, i) + ".type: content part " + quoted(type) +
                   " cannot be sent to an Anthropic upstream (text only)";
        }
        blocks.push_back(textBlock(*text));
    }
    return {};
}

std::string toAnthropicInput(const Json& input, Json& system, Json& messages) {
    messages = Json::array();
    if (input.is_string()) {
        messages.push_back(Json{{"role", "user"}, {"content", input}});
        return {};
    }
    if (!input.is_array()) return "input: must be a string or an array";
    for (std::size_t i = 0; i < input.size(); ++i) {
        const Json& item = input[i];
        std::string path = at("input", i);
        auto type = stringMember(item, "type").value_or("message");
        if (type != "message") {
            return path + ".type: " + quoted(type) +
                   " items cannot be sent to an Anthropic upstream (messages only)";
        }
        auto role = stringMember(item, "role").value_or("");
        const Json* content = member(item, "content");
        if (content == nullptr) return path + ".content: required";
        Json blocks;
        if (auto error = contentBlocks(*content, path + ".content", blocks); !error.empty()) {
            return error;
        }
        if (role == "system" || role == "developer") {
            for (Json& block : blocks)
                system.push_back(std::move(block));
        } else if (role == "user" || role == "assistant") {
            bool empty = std::all_of(blocks.begin(), blocks.end(), [](const Json& block) {
                return stringMember(block, "text").value_or("").empty();
            });
            if (role == "assistant" && empty) continue;  // Anthropic refuses empty turns
            appendTurn(messages, role, content->is_string() ? *content : std::move(blocks));
        } else {
            return path + ".role: " + quoted(role) + " cannot be sent to an Anthropic upstream";
        }
    }
    return {};
}

}  // namespace

std::string responsesToAnthropic(const Json& in, const AnthropicRequestOptions& options,
                                 Json& out) {
    if (!in.is_object()) return "the request body must be a JSON object";
    if (auto error = rejectUntranslatable(in); !error.empty()) return error;
    out = Json::object();
    if (const Json* model = member(in, "model")) out["model"] = *model;

    Json system = Json::array();
    if (const Json* instructions = member(in, "instructions"); present(instructions)) {
        if (!instructions->is_string()) return "instructions: must be a string";
        if (!instructions->empty()) system.push_back(textBlock(textOf(*instructions)));
    }
    const Json* input = member(in, "input");
    if (!present(input)) return "input: required";
    Json messages;
    if (auto error = toAnthropicInput(*input, system, messages); !error.empty()) return error;
    if (messages.empty()) return "input: needs at least one user or assistant message";
    if (system.size() == 1) {
        out["system"] = system[0]["text"];
    } else if (!system.empty()) {
        out["system"] = std::move(system);
    }
    out["messages"] = std::move(messages);

    std::int64_t max_tokens = options.default_max_tokens;
    if (present(member(in, "max_output_tokens"))) {
        auto tokens = integerMember(in, "max_output_tokens");
        if (!tokens || *tokens < 1) return "max_output_tokens: must be a positive integer";
        max_tokens = *tokens;
    }
    out["max_tokens"] = max_tokens;
    if (const Json* temperature = member(in, "temperature");
        temperature && temperature->is_number()) {
        out["temperature"] = std::clamp(temperature->get<double>(), 0.0, 1.0);
    }
    if (const Json* top_p = member(in, "top_p"); top_p && top_p->is_number()) {
        out["top_p"] = *top_p;
    }
    if (auto stream = boolMember(in, "stream")) out["stream"] = *stream;
    auto user = stringMember(in, "safety_identifier");
    if (!user) user = stringMember(in, "user");
    if (user) out["metadata"] = Json{{"user_id", *user}};
    return {};
}

}  // namespace detail

TranslatedBody responsesToAnthropicRequest(std::string_view responses_body,
                                           const AnthropicRequestOptions& options) {
    detail::Json in = detail::parseJson(responses_body);
    if (in.is_discarded()) return {.error = "the request body is not valid JSON"};
    detail::Json out;
    if (auto error = detail::responsesToAnthropic(in, options, out); !error.empty()) {
        return {.error = std::move(error)};
    }
    return {.body = detail::dumpJson(out)};
}

}  // namespace aiproxy::ai
