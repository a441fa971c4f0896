#include "aiproxy/ai/stream_preamble.hpp"

#include <string>

#include "json_access.hpp"

namespace aiproxy::ai {
namespace {

using detail::Json;

bool isPreambleType(std::string_view type) {
    return type == "message_start" || type == "ping" || type == "response.created" ||
           type == "response.in_progress";
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

bool isPreambleEvent(std::string_view name, std::string_view data) {
    if (data.empty()) return true;
    if (data == "[DONE]") return false;
    if (isPreambleType(name)) return true;
    if (carriesTextContent(data)) return false;
    Json json = detail::parseJson(data);
    if (!json.is_object()) return false;
    if (auto type = detail::stringMember(json, "type")) {
        if (isPreambleType(*type)) return true;
        if (*type == "content_block_start") {
            const Json& block = detail::objectMember(json, "content_block");
            return detail::stringMember(block, "type").value_or("") == "text" &&
                   detail::stringMember(block, "text").value_or("").empty();
        }
        return false;
    }
    return isEmptyChunk(json);
}

}  // namespace

bool onlyStreamPreamble(std::string_view stream) {
    std::size_t verified = 0;
    return onlyStreamPreamble(stream, verified);
}

bool onlyStreamPreamble(std::string_view stream, std::size_t& verified) {
    // Events end with a blank line; a last event without one is still coming and waits.
    std::size_t start = verified;
    for (;;) {
        auto end = stream.find("\n\n", start);
        if (end == std::string_view::npos) return true;
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
        if (!isPreambleEvent(name, data)) return false;
        verified = start;
    }
}

}  // namespace aiproxy::ai
