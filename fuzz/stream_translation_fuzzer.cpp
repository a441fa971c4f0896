// stream_translation_fuzzer: a streamed answer translated event by event must reassemble, as an
// SDK would, into what the non-streamed translation of the same answer says. The input drives
// an answer (text split at random points, tool calls with argument objects split into random
// fragments, arguments left out, parallel calls interleaved by index, finish reason, usage); the
// answer is written both as one upstream body and as an upstream event stream, in both
// directions (Anthropic upstream to OpenAI client, OpenAI upstream to Anthropic client).
//
// Broken invariants abort(): different text, tool calls (count, id, name, arguments compared as
// parsed JSON), finish or stop reason, or usage between the reassembled stream and the plain
// translation; arguments an SDK cannot JSON.parse; a stream that does not end complete.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/ai/sse_framer.hpp"

namespace aiproxy::fuzz {
namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "stream_translation_fuzzer: %s\n%s\n", what, detail.c_str());
    std::abort();
}

class Bytes {
public:
    Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    unsigned next(unsigned bound) {
        if (bound == 0) return 0;
        unsigned value = at_ < size_ ? data_[at_++] : 0;
        return value % bound;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

struct ToolCall {
    std::string id;
    std::string name;
    Json arguments;  // an object
};

struct Answer {
    std::string text;
    std::vector<ToolCall> calls;
    int input_tokens = 0;
    int output_tokens = 0;
    bool length_cut = false;  // stopped by max_tokens rather than naturally
};

Answer makeAnswer(Bytes& in) {
    static const char* kWords[] = {"a", "bc", " ", "é", "\"q\"", "\\", "\n", "{", "}", "ok"};
    Answer answer;
    for (unsigned i = 0, n = in.next(12); i < n; ++i)
        answer.text += kWords[in.next(10)];
    for (unsigned i = 0, n = in.next(4); i < n; ++i) {
        ToolCall call{.id = "call_" + std::to_string(i), .name = "fn" + std::to_string(in.next(3))};
        call.arguments = Json::object();
        for (unsigned k = 0, keys = in.next(4); k < keys; ++k) {
            call.arguments["k" + std::to_string(k)] =
                in.next(2) ? Json(kWords[in.next(10)]) : Json(static_cast<int>(in.next(100)));
        }
        answer.calls.push_back(std::move(call));
    }
    answer.input_tokens = static_cast<int>(in.next(200));
    answer.output_tokens = static_cast<int>(in.next(200));
    answer.length_cut = answer.calls.empty() && in.next(4) == 0;
    return answer;
}

// Splits `text` into 1..4 pieces at input-chosen points (empty pieces allowed).
std::vector<std::string> split(const std::string& text, Bytes& in) {
    std::vector<std::string> pieces;
    std::size_t at = 0;
    for (unsigned i = 0, cuts = in.next(4); i < cuts && at < text.size(); ++i) {
        std::size_t next = at + in.next(static_cast<unsigned>(text.size() - at) + 1);
        // Every upstream event is valid JSON: a piece never ends inside a UTF-8 sequence.
        while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80)
            ++next;
        pieces.push_back(text.substr(at, next - at));
        at = next;
    }
    pieces.push_back(text.substr(at));
    return pieces;
}

std::string sse(const std::string& event, const Json& data) {
    std::string out;
    if (!event.empty()) out += "event: " + event + "\n";
    return out + "data: " + data.dump() + "\n\n";
}

// Frames `stream` and feeds it to `translator` in input-sized pieces; returns the client bytes.
std::string translateStream(ai::StreamTranslatorOptions options, ai::Translation translation,
                            const std::string& stream, Bytes& in) {
    auto translator = ai::makeStreamTranslator(translation, std::move(options));
    ai::SseFramer framer;
    std::vector<ai::SseEvent> events;
    std::string out;
    for (std::size_t at = 0; at < stream.size();) {
        std::size_t n = 1 + in.next(200);
        events.clear();
        framer.feed(std::string_view(stream).substr(at, n), events);
        for (auto& event : events) {
            if (translation == ai::Translation::OpenAiToAnthropic && event.event.empty()) {
                auto data = Json::parse(event.data, nullptr, false);
                if (data.is_object() && data.contains("type")) event.event = data["type"];
            }
            translator->onEvent(event, out);
        }
        at += n;
    }
    translator->onUpstreamEnd(out);
    if (translator->state() != ai::StreamTranslator::State::Complete) {
        fail("the translated stream did not complete", out);
    }
    return out;
}

std::vector<ai::SseEvent> frameAll(const std::string& bytes) {
    ai::SseFramer framer;
    std::vector<ai::SseEvent> events;
    framer.feed(bytes, events);
    return events;
}

Json parseArguments(const std::string& text, const std::string& where) {
    auto parsed = Json::parse(text, nullptr, false);
    if (parsed.is_discarded()) fail("tool arguments an SDK cannot JSON.parse", where + ": " + text);
    return parsed;
}

// ---- Anthropic upstream, OpenAI client ----
void anthropicToOpenAi(const Answer& answer, Bytes& in) {
    Json content = Json::array();
    if (!answer.text.empty()) content.push_back({{"type", "text"}, {"text", answer.text}});
    for (const auto& call : answer.calls) {
        content.push_back({{"type", "tool_use"},
                           {"id", call.id},
                           {"name", call.name},
                           {"input", call.arguments}});
    }
    std::string stop = !answer.calls.empty() ? "tool_use"
                       : answer.length_cut   ? "max_tokens"
                                             : "end_turn";
    Json usage{{"input_tokens", answer.input_tokens}, {"output_tokens", answer.output_tokens}};
    Json message{{"id", "msg_1"},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"model", "claude"},
                 {"content", content},
                 {"stop_reason", stop},
                 {"stop_sequence", nullptr},
                 {"usage", usage}};
    auto plain = ai::translateResponseBody(ai::Translation::OpenAiToAnthropic, message.dump(), 1);
    if (!plain.ok()) fail("plain translation failed", plain.error);
    Json expected = Json::parse(plain.body);

    std::string stream;
    Json start = message;
    start["content"] = Json::array();
    start["stop_reason"] = nullptr;
    start["usage"] = {{"input_tokens", answer.input_tokens}, {"output_tokens", 1}};
    stream += sse("message_start", {{"type", "message_start"}, {"message", start}});
    int index = 0;
    if (!answer.text.empty()) {
        stream += sse("content_block_start", {{"type", "content_block_start"},
                                              {"index", index},
                                              {"content_block", {{"type", "text"}, {"text", ""}}}});
        for (const auto& piece : split(answer.text, in)) {
            stream +=
                sse("content_block_delta", {{"type", "content_block_delta"},
                                            {"index", index},
                                            {"delta", {{"type", "text_delta"}, {"text", piece}}}});
        }
        stream += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index++}});
    }
    for (const auto& call : answer.calls) {
        stream += sse("content_block_start", {{"type", "content_block_start"},
                                              {"index", index},
                                              {"content_block",
                                               {{"type", "tool_use"},
                                                {"id", call.id},
                                                {"name", call.name},
                                                {"input", Json::object()}}}});
        // Anthropic sends no input_json_delta (or an empty one) for a call without input.
        std::string arguments = call.arguments.empty() && in.next(2) ? "" : call.arguments.dump();
        for (const auto& piece : split(arguments, in)) {
            stream += sse("content_block_delta",
                          {{"type", "content_block_delta"},
                           {"index", index},
                           {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}});
        }
        stream += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index++}});
    }
    stream += sse("message_delta", {{"type", "message_delta"},
                                    {"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}},
                                    {"usage", {{"output_tokens", answer.output_tokens}}}});
    stream += sse("message_stop", {{"type", "message_stop"}});
    // Servers that omit "event:" lines: the relay names events from their data's type.
    if (in.next(2)) {
        std::string bare;
        for (const auto& event : frameAll(stream))
            bare += "data: " + event.data + "\n\n";
        stream = bare;
    }

    std::string out = translateStream({.created = 1, .include_usage = true},
                                      ai::Translation::OpenAiToAnthropic, stream, in);
    // Reassembled as the OpenAI SDK's stream helper does.
    std::string text;
    std::map<int, std::pair<Json, std::string>> calls;  // index -> {id/name, arguments}
    std::string finish;
    Json stream_usage;
    bool done = false;
    for (const auto& event : frameAll(out)) {
        if (event.data == "[DONE]") {
            done = true;
            continue;
        }
        Json chunk = Json::parse(event.data, nullptr, false);
        if (!chunk.is_object()) fail("a chunk that is not JSON", event.data);
        if (chunk.contains("usage") && chunk["usage"].is_object()) stream_usage = chunk["usage"];
        if (!chunk.contains("choices") || chunk["choices"].empty()) continue;
        const Json& choice = chunk["choices"][0];
        const Json& delta = choice["delta"];
        if (delta.contains("content") && delta["content"].is_string()) text += delta["content"];
        if (delta.contains("tool_calls")) {
            for (const Json& call : delta["tool_calls"]) {
                auto& entry = calls[call["index"].get<int>()];
                if (call.contains("id")) entry.first["id"] = call["id"];
                const Json& fn = call.value("function", Json::object());
                if (fn.contains("name")) entry.first["name"] = fn["name"];
                if (fn.contains("arguments")) entry.second += fn["arguments"].get<std::string>();
            }
        }
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
            finish = choice["finish_reason"];
        }
    }
    if (!done) fail("no [DONE]", out);
    const Json& want = expected["choices"][0]["message"];
    std::string want_text = want["content"].is_string() ? want["content"].get<std::string>() : "";
    if (text != want_text) fail("text differs", text + " | " + want_text);
    std::size_t want_calls = want.contains("tool_calls") ? want["tool_calls"].size() : 0;
    if (calls.size() != want_calls) fail("tool call count differs", out);
    std::size_t i = 0;
    for (const auto& [index, call] : calls) {
        const Json& w = want["tool_calls"][i++];
        if (call.first.value("id", "") != w["id"] ||
            call.first.value("name", "") != w["function"]["name"]) {
            fail("tool call id or name differs", out);
        }
        if (parseArguments(call.second, "openai stream") !=
            parseArguments(w["function"]["arguments"], "openai plain")) {
            fail("tool arguments differ", out);
        }
    }
    if (finish != expected["choices"][0]["finish_reason"]) fail("finish_reason differs", out);
    if (stream_usage != expected["usage"])
        fail("usage differs", stream_usage.dump() + " | " + expected["usage"].dump());
}

// ---- OpenAI upstream, Anthropic client ----
void openAiToAnthropic(const Answer& answer, Bytes& in) {
    Json message{{"role", "assistant"}};
    message["content"] =
        answer.text.empty() && !answer.calls.empty() ? Json(nullptr) : Json(answer.text);
    Json tool_calls = Json::array();
    for (const auto& call : answer.calls) {
        tool_calls.push_back(
            {{"id", call.id},
             {"type", "function"},
             {"function", {{"name", call.name}, {"arguments", call.arguments.dump()}}}});
    }
    if (!tool_calls.empty()) message["tool_calls"] = tool_calls;
    std::string finish = !answer.calls.empty() ? "tool_calls"
                         : answer.length_cut   ? "length"
                                               : "stop";
    Json usage{{"prompt_tokens", answer.input_tokens},
               {"completion_tokens", answer.output_tokens},
               {"total_tokens", answer.input_tokens + answer.output_tokens}};
    Json completion{
        {"id", "chatcmpl-1"},
        {"object", "chat.completion"},
        {"created", 1},
        {"model", "gpt"},
        {"choices", Json::array({{{"index", 0}, {"message", message}, {"finish_reason", finish}}})},
        {"usage", usage}};
    auto plain =
        ai::translateResponseBody(ai::Translation::AnthropicToOpenAi, completion.dump(), 1);
    if (!plain.ok()) fail("plain translation failed", plain.error);
    Json expected = Json::parse(plain.body);

    auto chunk = [](const Json& delta, const Json& finish_reason) {
        Json choice{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}};
        return Json{{"id", "chatcmpl-1"},
                    {"object", "chat.completion.chunk"},
                    {"created", 1},
                    {"model", "gpt"},
                    {"choices", Json::array({choice})}};
    };
    std::string stream = sse("", chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
    for (const auto& piece : split(answer.text, in)) {
        if (!piece.empty()) stream += sse("", chunk({{"content", piece}}, nullptr));
    }
    // Tool-call fragments, each call's first one carrying id and name, interleaved by index as
    // the input says.
    std::vector<std::vector<std::string>> fragments;
    for (const auto& call : answer.calls)
        fragments.push_back(split(call.arguments.dump(), in));
    std::vector<std::size_t> sent(fragments.size(), 0);
    for (std::size_t left = answer.calls.size(); left > 0;) {
        std::size_t tool = in.next(static_cast<unsigned>(fragments.size()));
        while (sent[tool] == fragments[tool].size())
            tool = (tool + 1) % fragments.size();
        Json call{{"index", tool}, {"function", {{"arguments", fragments[tool][sent[tool]]}}}};
        if (sent[tool] == 0) {
            call["id"] = answer.calls[tool].id;
            call["type"] = "function";
            call["function"]["name"] = answer.calls[tool].name;
        }
        stream += sse("", chunk({{"tool_calls", Json::array({call})}}, nullptr));
        if (++sent[tool] == fragments[tool].size()) --left;
    }
    stream += sse("", chunk(Json::object(), finish));
    Json usage_chunk = chunk(Json::object(), nullptr);
    usage_chunk["choices"] = Json::array();
    usage_chunk["usage"] = usage;
    stream += sse("", usage_chunk);
    stream += "data: [DONE]\n\n";

    std::string out =
        translateStream({.fallback_model = "gpt"}, ai::Translation::AnthropicToOpenAi, stream, in);
    // Reassembled as the Anthropic SDK's finalMessage() does.
    Json content = Json::array();
    std::vector<std::string> inputs;
    std::string stop;
    Json stream_usage;
    bool stopped = false;
    for (const auto& event : frameAll(out)) {
        Json data = Json::parse(event.data, nullptr, false);
        if (!data.is_object()) fail("an event that is not JSON", event.data);
        if (event.event == "content_block_start") {
            if (data["index"] != content.size()) fail("block indexes out of order", out);
            content.push_back(data["content_block"]);
            inputs.emplace_back();
        } else if (event.event == "content_block_delta") {
            std::size_t index = data["index"];
            if (index + 1 != content.size()) fail("a delta for a block that is not the last", out);
            const Json& delta = data["delta"];
            if (delta["type"] == "text_delta") {
                content[index]["text"] =
                    content[index]["text"].get<std::string>() + delta["text"].get<std::string>();
            } else if (delta["type"] == "input_json_delta") {
                inputs[index] += delta["partial_json"].get<std::string>();
            }
        } else if (event.event == "message_delta") {
            stop = data["delta"]["stop_reason"];
            stream_usage = data["usage"];
        } else if (event.event == "message_stop") {
            stopped = true;
        }
    }
    if (!stopped) fail("no message_stop", out);
    for (std::size_t i = 0; i < content.size(); ++i) {
        if (content[i]["type"] == "tool_use") {
            content[i]["input"] =
                inputs[i].empty() ? Json::object() : parseArguments(inputs[i], "anthropic stream");
        }
    }
    if (content != expected["content"])
        fail("content differs", content.dump() + " | " + expected["content"].dump());
    if (stop != expected["stop_reason"]) fail("stop_reason differs", out);
    if (stream_usage != expected["usage"])
        fail("usage differs", stream_usage.dump() + " | " + expected["usage"].dump());
}

}  // namespace
}  // namespace aiproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace aiproxy::fuzz;
    Bytes in{data, size};
    Answer answer = makeAnswer(in);
    if (in.next(2)) {
        anthropicToOpenAi(answer, in);
    } else {
        openAiToAnthropic(answer, in);
    }
    return 0;
}
