#include "aiproxy/ai/stream_preamble.hpp"

#include <optional>
#include <string>

#include "aiproxy/ai/request_model.hpp"
#include "json_access.hpp"
#include "simple_json.hpp"

namespace aiproxy::ai {
namespace {

using detail::Json;

bool isPreambleType(std::string_view type) {
    return type == "message_start" || type == "ping" || type == "response.created" ||
           type == "response.in_progress" || type == "response.queued";
}

// A Responses API output item or content part that opens empty: a message item with no content
// yet, a reasoning item with no summary yet, an output_text part with no text. A function call
// item carries its name, which is content (as a tool call delta is in chat).
bool isEmptyResponsesOpening(std::string_view type, const Json& json) {
    auto empty = [](const Json* value) {
        if (value == nullptr || value->is_null()) return true;
        if (value->is_string()) return value->get_ref<const std::string&>().empty();
        return value->is_array() && value->empty();  // empty() is false for any string
    };
    if (type == "response.output_item.added") {
        const Json& item = detail::objectMember(json, "item");
        auto kind = detail::stringMember(item, "type").value_or("");
        return (kind == "message" || kind == "reasoning") &&
               empty(detail::member(item, "content")) && empty(detail::member(item, "summary"));
    }
    if (type == "response.content_part.added") {
        const Json& part = detail::objectMember(json, "part");
        auto kind = detail::stringMember(part, "type").value_or("");
        return (kind == "output_text" || kind == "reasoning_text") &&
               empty(detail::member(part, "text"));
    }
    return false;
}

// An OpenAI chat chunk whose choices say nothing yet: no text, tool call, refusal or reasoning,
// and no finish reason.
bool isEmptyChunk(const Json& chunk) {
    const Json* choices = detail::member(chunk, "choices");
    if (choices == nullptr || !choices->is_array()) return false;
    for (const Json& choice : *choices) {
        if (const Json* finish = detail::member(choice, "finish_reason");
            finish && !finish->is_null()) {
            return false;
        }
        const Json* delta = detail::member(choice, "delta");
        if (delta == nullptr || !delta->is_object()) return false;
        for (const auto& [key, value] : delta->items()) {
            if (key == "role") continue;
            if ((key == "content" || key == "reasoning_content" || key == "refusal") &&
                (value.is_null() ||
                 (value.is_string() && value.get_ref<const std::string&>().empty()))) {
                continue;
            }
            return false;
        }
    }
    return true;
}

// A non-empty string member named "content" (OpenAI's delta text, in compact JSON as servers
// send it): content for certain, without parsing. Anything else takes the full check; a false
// "content" here would only commit the stream early, never hold content back.
bool carriesTextContent(std::string_view data) {
    constexpr std::string_view kContent = "\"content\":\"";
    auto at = data.find(kContent);
    return at != std::string_view::npos && at + kContent.size() < data.size() &&
           data[at + kContent.size()] != '"';
}

// Error types and codes that blame the request: every node would answer the same.
bool blamesTheRequest(const Json& error) {
    static constexpr std::string_view kClientErrors[] = {
        "invalid_request_error", "authentication_error",     "permission_error",
        "not_found_error",       "request_too_large",        "context_length_exceeded",
        "content_filter",        "content_policy_violation", "invalid_prompt"};
    for (const char* key : {"type", "code"}) {
        auto value = detail::stringMember(error, key);
        if (!value) continue;
        for (auto client_error : kClientErrors) {
            if (*value == client_error) return true;
        }
    }
    return false;
}

// An upstream's error event: `event: error`, OpenAI's `{"error": {...}}`, Anthropic's
// `{"type": "error", "error": {...}}`, the Responses API's `{"type": "error", "code", "message"}`
// or `response.failed` (its error inside the response). nullopt when the event is not one.
std::optional<StreamStart> errorEvent(std::string_view name, const Json& json,
                                      std::string* message) {
    const Json* error = json.is_object() ? detail::member(json, "error") : nullptr;
    auto type = detail::stringMember(json, "type").value_or(name);
    if (type == "response.failed") {
        error = detail::member(detail::objectMember(json, "response"), "error");
        if (error != nullptr && !error->is_object()) error = nullptr;
    }
    bool is_error = name == "error" || type == "error" || type == "response.failed" ||
                    (error != nullptr && detail::member(json, "choices") == nullptr);
    if (!is_error) return std::nullopt;
    const Json& details = error != nullptr && error->is_object() ? *error : json;
    if (blamesTheRequest(details)) return StreamStart::Content;
    if (message) {
        if (auto text = detail::stringMember(details, "message")) {
            *message = *text;
        } else if (error != nullptr && error->is_string()) {
            *message = error->get<std::string>();
        }
    }
    return StreamStart::UpstreamError;
}

// isEmptyChunk for an unnamed OpenAI chat chunk in simple JSON (detail::isSimpleJson), read by
// a scan: the role-only first chunk of nearly every stream, without a parse. nullopt when the
// chunk needs the full check (an error, a typed event, no choices array).
std::optional<StreamStart> classifySimpleChunk(std::string_view data) {
    enum Member { kError, kType, kChoices, kMembers };
    std::optional<std::string_view> values[kMembers];
    if (!detail::simpleIsObject(data) ||
        !scanTopLevelMembers(data, {"error", "type", "choices"}, values) || values[kError] ||
        values[kType] || !values[kChoices] || !values[kChoices]->starts_with('[')) {
        return std::nullopt;
    }
    auto isNothing = [](std::string_view value) { return value == "null" || value == "\"\""; };
    std::string_view key;
    std::string_view choice;
    for (detail::SimpleItems choices{*values[kChoices]}; choices.next(key, choice);) {
        std::optional<std::string_view> members[2];
        if (!detail::simpleIsObject(choice) ||
            !scanTopLevelMembers(choice, {"finish_reason", "delta"}, members) ||
            (members[0] && *members[0] != "null") || !members[1] ||
            !detail::simpleIsObject(*members[1])) {
            return StreamStart::Content;
        }
        std::string_view value;
        for (detail::SimpleItems delta{*members[1]}; delta.next(key, value);) {
            if (key == "role") continue;
            if ((key == "content" || key == "reasoning_content" || key == "refusal") &&
                isNothing(value)) {
                continue;
            }
            return StreamStart::Content;
        }
    }
    return StreamStart::Preamble;
}

StreamStart classifyEvent(std::string_view name, std::string_view data, std::string* message) {
    if (data.empty()) return StreamStart::Preamble;
    if (data == "[DONE]") return StreamStart::Content;
    if (isPreambleType(name)) return StreamStart::Preamble;
    if (carriesTextContent(data)) return StreamStart::Content;
    if (name.empty() && detail::isSimpleJson(data)) {
        if (auto kind = classifySimpleChunk(data)) return *kind;
    }
    Json json = detail::parseJson(data);
    if (auto error = errorEvent(name, json, message)) return *error;
    if (!json.is_object()) return StreamStart::Content;
    // Responses API servers that leave out data.type still name the event.
    auto type = detail::stringMember(json, "type");
    if (!type && name.starts_with("response.")) type = name;
    if (type) {
        if (isPreambleType(*type) || isEmptyResponsesOpening(*type, json)) {
            return StreamStart::Preamble;
        }
        if (*type == "content_block_start") {
            const Json& block = detail::objectMember(json, "content_block");
            bool empty_text = detail::stringMember(block, "type").value_or("") == "text" &&
                              detail::stringMember(block, "text").value_or("").empty();
            return empty_text ? StreamStart::Preamble : StreamStart::Content;
        }
        return StreamStart::Content;
    }
    return isEmptyChunk(json) ? StreamStart::Preamble : StreamStart::Content;
}

}  // namespace

bool onlyStreamPreamble(std::string_view stream) {
    std::size_t verified = 0;
    return onlyStreamPreamble(stream, verified);
}

bool onlyStreamPreamble(std::string_view stream, std::size_t& verified) {
    return classifyStreamStart(stream, verified) == StreamStart::Preamble;
}

StreamStart classifyStreamStart(std::string_view stream, std::size_t& verified,
                                std::string* error) {
    // Events end with a blank line; a last event without one is still coming and waits.
    std::size_t start = verified;
    for (;;) {
        auto end = stream.find("\n\n", start);
        if (end == std::string_view::npos) return StreamStart::Preamble;
        std::string_view event = stream.substr(start, end - start);
        start = end + 2;
        std::string_view name;
        std::string data;
        for (std::size_t at = 0; at <= event.size();) {
            auto line_end = event.find('\n', at);
            std::string_view line = event.substr(
                at, line_end == std::string_view::npos ? std::string_view::npos : line_end - at);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.starts_with("event:")) {
                name = line.substr(6);
                if (!name.empty() && name.front() == ' ') name.remove_prefix(1);
            } else if (line.starts_with("data:")) {
                auto value = line.substr(5);
                if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
                if (!data.empty()) data += '\n';
                data += value;
            }
            if (line_end == std::string_view::npos) break;
            at = line_end + 1;
        }
        if (auto kind = classifyEvent(name, data, error); kind != StreamStart::Preamble) {
            return kind;
        }
        verified = start;
    }
}

}  // namespace aiproxy::ai
