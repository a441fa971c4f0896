#include "responses_shapes.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::mock {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;  // OpenAI's field order, as in its docs

std::string dump(const ordered_json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string invalid(std::string_view message) {
    return errorJson(message, "invalid_request_error", "invalid_value");
}

// Text of a string content or of the text parts (input_text, output_text) of a part array.
std::string contentText(const json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (!content.is_array()) return text;
    for (const json& part : content) {
        if (!part.is_object()) continue;
        auto part_text = part.find("text");
        if (part_text == part.end() || !part_text->is_string()) continue;
        if (!text.empty()) text += ' ';
        text += part_text->get_ref<const std::string&>();
    }
    return text;
}

std::string messageId(const ResponsesReply& reply) {
    std::string id = reply.completion.id;
    if (id.starts_with("resp_")) id.replace(0, 5, "msg_");
    return id;
}

std::string fullText(const ResponsesReply& reply) {
    std::string text;
    for (const std::string& delta : reply.completion.deltas)
        text += delta;
    return text;
}

ordered_json textPart(std::string_view text) {
    return ordered_json{{"type", "output_text"},
                        {"text", text},
                        {"annotations", ordered_json::array()},
                        {"logprobs", ordered_json::array()}};
}

ordered_json messageItem(const ResponsesReply& reply, std::string_view status,
                         ordered_json content) {
    return ordered_json{{"id", messageId(reply)},
                        {"type", "message"},
                        {"status", status},
                        {"role", "assistant"},
                        {"content", std::move(content)}};
}

const char* finalStatus(const ResponsesReply& reply) {
    return reply.truncated ? "incomplete" : "completed";
}

ordered_json responseObject(const ResponsesReply& reply, std::string_view status,
                            ordered_json output, bool with_usage) {
    const auto output_tokens = static_cast<std::int64_t>(reply.completion.deltas.size());
    const std::int64_t input_tokens = reply.completion.prompt_tokens;
    ordered_json usage = nullptr;
    if (with_usage) {
        usage = ordered_json{{"input_tokens", input_tokens},
                             {"input_tokens_details", {{"cached_tokens", 0}}},
                             {"output_tokens", output_tokens},
                             {"output_tokens_details", {{"reasoning_tokens", 0}}},
                             {"total_tokens", input_tokens + output_tokens}};
    }
    ordered_json incomplete = nullptr;
    if (status == "incomplete") incomplete = ordered_json{{"reason", "max_output_tokens"}};
    return ordered_json{{"id", reply.completion.id},
                        {"object", "response"},
                        {"created_at", reply.completion.created},
                        {"status", status},
                        {"error", nullptr},
                        {"incomplete_details", std::move(incomplete)},
                        {"model", reply.completion.model},
                        {"output", std::move(output)},
                        {"usage", std::move(usage)}};
}

}  // namespace

ResponsesRequest parseResponsesRequest(std::string_view body, std::string_view backend_name) {
    ResponsesRequest request;
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        request.error = invalid("We could not parse the JSON body of your request.");
        return request;
    }
    auto input = doc.find("input");
    if (input == doc.end() || !(input->is_string() || input->is_array())) {
        request.error = invalid("Missing required parameter: 'input' (a string or an array).");
        return request;
    }
    if (input->is_string()) {
        request.chat.last_user_text = input->get<std::string>();
        request.chat.prompt_tokens += countWords(request.chat.last_user_text);
    } else {
        for (const json& item : *input) {
            if (!item.is_object()) continue;
            std::string text = contentText(item.value("content", json()));
            request.chat.prompt_tokens += countWords(text);
            if (item.value("role", "") == "user") request.chat.last_user_text = std::move(text);
        }
    }
    if (auto instructions = doc.find("instructions");
        instructions != doc.end() && instructions->is_string()) {
        request.chat.prompt_tokens += countWords(instructions->get_ref<const std::string&>());
    }
    auto model = doc.find("model");
    request.chat.model = model != doc.end() && model->is_string() && !model->empty()
                             ? model->get<std::string>()
                             : "mock-" + std::string(backend_name);
    if (auto stream = doc.find("stream"); stream != doc.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            request.error = invalid("Invalid type for 'stream': expected a boolean.");
            return request;
        }
        request.chat.stream = stream->get<bool>();
    }
    if (auto limit = doc.find("max_output_tokens");
        limit != doc.end() && limit->is_number_integer()) {
        request.max_tokens = limit->get<std::int64_t>();
    }
    return request;
}

ResponsesReply makeResponsesReply(const ResponsesRequest& request, std::string_view backend_name,
                                  std::string id, std::int64_t created) {
    ResponsesReply reply{
        .completion = makeChatCompletion(request.chat, backend_name, std::move(id), created)};
    if (request.max_tokens >= 0 &&
        reply.completion.deltas.size() > static_cast<std::size_t>(request.max_tokens)) {
        reply.completion.deltas.resize(static_cast<std::size_t>(request.max_tokens));
        reply.truncated = true;
    }
    return reply;
}

std::string responseJson(const ResponsesReply& reply) {
    const char* status = finalStatus(reply);
    ordered_json output = ordered_json::array(
        {messageItem(reply, status, ordered_json::array({textPart(fullText(reply))}))});
    return dump(responseObject(reply, status, std::move(output), true));
}

std::vector<std::string> responseEvents(const ResponsesReply& reply) {
    std::vector<std::string> events;
    std::int64_t sequence = 0;
    auto emit = [&events, &sequence](std::string_view type, ordered_json data) {
        ordered_json event{{"type", type}};
        for (auto& [key, value] : data.items())
            event[key] = std::move(value);
        event["sequence_number"] = sequence++;
        events.push_back("event: " + std::string(type) + "\ndata: " + dump(event) + "\n\n");
    };
    const std::string item_id = messageId(reply);
    auto part = [&item_id](ordered_json fields) {
        ordered_json out{{"item_id", item_id}, {"output_index", 0}, {"content_index", 0}};
        for (auto& [key, value] : fields.items())
            out[key] = std::move(value);
        return out;
    };
    ordered_json empty = ordered_json::array();
    emit("response.created", {{"response", responseObject(reply, "in_progress", empty, false)}});
    emit("response.in_progress",
         {{"response", responseObject(reply, "in_progress", empty, false)}});
    emit("response.output_item.added",
         {{"output_index", 0}, {"item", messageItem(reply, "in_progress", empty)}});
    emit("response.content_part.added", part({{"part", textPart("")}}));
    for (const std::string& delta : reply.completion.deltas) {
        emit("response.output_text.delta",
             part({{"delta", delta}, {"logprobs", ordered_json::array()}}));
    }
    const std::string text = fullText(reply);
    emit("response.output_text.done", part({{"text", text}, {"logprobs", ordered_json::array()}}));
    emit("response.content_part.done", part({{"part", textPart(text)}}));
    const char* status = finalStatus(reply);
    ordered_json item = messageItem(reply, status, ordered_json::array({textPart(text)}));
    emit("response.output_item.done", {{"output_index", 0}, {"item", item}});
    emit(reply.truncated ? "response.incomplete" : "response.completed",
         {{"response", responseObject(reply, status, ordered_json::array({item}), true)}});
    return events;
}

}  // namespace aiproxy::mock
