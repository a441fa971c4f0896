// Stream translators: Anthropic message events <-> OpenAI chat.completion.chunk events. Each
// upstream event is translated as soon as it arrives; nothing is held back except the stop
// reason, which Anthropic clients expect in message_delta after the usage is known.

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/ai/responses_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace {

using detail::Json;
using State = StreamTranslator::State;

// Anthropic names the event type both in "event:" and in data.type; data wins when both exist.
std::string_view eventType(const SseEvent& event, const Json& data) {
    if (auto type = detail::stringMember(data, "type")) return *type;
    return event.event;
}

void appendData(std::string& out, const Json& data) {
    out += "data: ";
    out += detail::dumpJson(data);
    out += "\n\n";
}

void appendEvent(std::string& out, std::string_view type, const Json& data) {
    out += "event: ";
    out += type;
    out += '\n';
    appendData(out, data);
}

class AnthropicToOpenAi final : public StreamTranslator {
public:
    explicit AnthropicToOpenAi(StreamTranslatorOptions options)
        : options_(std::move(options)), model_(options_.fallback_model) {}

    void onEvent(const SseEvent& event, std::string& out) override {
        if (state_ != State::Open) return;
        Json data = detail::parseJson(event.data);
        if (data.is_discarded()) return;
        auto type = eventType(event, data);
        if (type == "message_start") {
            onMessageStart(data, out);
        } else if (type == "content_block_start") {
            onBlockStart(data, out);
        } else if (type == "content_block_delta") {
            onBlockDelta(data, out);
        } else if (type == "message_delta") {
            onMessageDelta(data, out);
        } else if (type == "content_block_stop") {
            onBlockStop(data, out);
        } else if (type == "message_stop") {
            if (!finish_reason_) appendChunk(out, Json::object(), "stop");
            close(out);
        } else if (type == "ping") {
            out += ": ping\n\n";  // a comment: keeps idle timers of the client's path at bay
        } else if (type == "error") {
            appendData(out, detail::openAiErrorFromAnthropic(detail::objectMember(data, "error")));
            state_ = State::Failed;
        }
        // Unknown event types carry nothing an OpenAI client needs.
    }

    void onUpstreamEnd(std::string& out) override {
        if (state_ == State::Open && finish_reason_) close(out);
    }

    State state() const override { return state_; }

private:
    void onMessageStart(const Json& data, std::string& out) {
        if (const Json* message = detail::member(data, "message")) {
            if (auto id = detail::stringMember(*message, "id")) id_ = *id;
            if (auto model = detail::stringMember(*message, "model")) model_ = *model;
            if (const Json* usage = detail::member(*message, "usage")) {
                detail::readAnthropicUsage(*usage, tokens_);
            }
        }
        ensureRole(out);
    }

    void onBlockStart(const Json& data, std::string& out) {
        ensureRole(out);
        const Json* block = detail::member(data, "content_block");
        if (block == nullptr) return;
        auto type = detail::stringMember(*block, "type").value_or("");
        if (type == "text") {
            auto text = detail::stringMember(*block, "text").value_or("");
            if (!text.empty()) appendChunk(out, Json{{"content", text}}, std::nullopt);
        } else if (type == "thinking") {
            auto text = detail::stringMember(*block, "thinking").value_or("");
            if (!text.empty()) appendChunk(out, Json{{"reasoning_content", text}}, std::nullopt);
        } else if (type == "tool_use") {
            auto index = detail::integerMember(data, "index").value_or(0);
            int tool = next_tool_++;
            // A server may put the whole input in the start event instead of deltas.
            const Json* input = detail::member(*block, "input");
            std::string arguments =
                input && input->is_object() && !input->empty() ? detail::dumpJson(*input) : "";
            tool_blocks_.push_back(
                {.block = index, .tool = tool, .has_arguments = !arguments.empty()});
            Json call{{"index", tool},
                      {"id", detail::stringMember(*block, "id").value_or("")},
                      {"type", "function"},
                      {"function",
                       {{"name", detail::stringMember(*block, "name").value_or("")},
                        {"arguments", std::move(arguments)}}}};
            appendChunk(out, Json{{"tool_calls", Json::array({std::move(call)})}}, std::nullopt);
        }
    }

    void onBlockDelta(const Json& data, std::string& out) {
        ensureRole(out);
        const Json* delta = detail::member(data, "delta");
        if (delta == nullptr) return;
        auto type = detail::stringMember(*delta, "type").value_or("");
        if (type == "text_delta") {
            auto text = detail::stringMember(*delta, "text").value_or("");
            appendChunk(out, Json{{"content", text}}, std::nullopt);
        } else if (type == "thinking_delta") {
            auto text = detail::stringMember(*delta, "thinking").value_or("");
            appendChunk(out, Json{{"reasoning_content", text}}, std::nullopt);
        } else if (type == "input_json_delta") {
            auto partial = detail::stringMember(*delta, "partial_json").value_or("");
            auto* tool = toolBlock(detail::integerMember(data, "index").value_or(0));
            if (partial.empty() || !tool) return;
            tool->has_arguments = true;
            Json call{{"index", tool->tool}, {"function", {{"arguments", partial}}}};
            appendChunk(out, Json{{"tool_calls", Json::array({std::move(call)})}}, std::nullopt);
        }
        // signature_delta and citations_delta have no OpenAI counterpart.
    }

    void onMessageDelta(const Json& data, std::string& out) {
        ensureRole(out);
        if (const Json* usage = detail::member(data, "usage")) {
            detail::readAnthropicUsage(*usage, tokens_);
        }
        const Json* delta = detail::member(data, "delta");
        auto stop = delta ? detail::stringMember(*delta, "stop_reason") : std::nullopt;
        if (!stop || finish_reason_) return;
        finish_reason_ = std::string(detail::openAiFinishReason(*stop));
        appendChunk(out, Json::object(), *finish_reason_);
    }

    // The first chunk carries the role, as OpenAI's own streams do.
    void ensureRole(std::string& out) {
        if (role_sent_) return;
        role_sent_ = true;
        appendChunk(out, Json{{"role", "assistant"}, {"content", ""}}, std::nullopt);
    }

    void close(std::string& out) {
        if (options_.include_usage) {
            Json chunk = header();
            chunk["choices"] = Json::array();
            chunk["usage"] = detail::openAiUsageJson(tokens_);
            appendData(out, chunk);
        }
        out += "data: [DONE]\n\n";
        state_ = State::Complete;
    }

    Json header() const {
        return Json{{"id", id_},
                    {"object", "chat.completion.chunk"},
                    {"created", options_.created},
                    {"model", model_}};
    }

    void appendChunk(std::string& out, Json delta, std::optional<std::string_view> finish) {
        Json chunk = header();
        Json choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}};
        choice["finish_reason"] = finish ? Json(*finish) : Json(nullptr);
        chunk["choices"] = Json::array({std::move(choice)});
        appendData(out, chunk);
    }

    struct ToolBlock {
        std::int64_t block = 0;  // Anthropic content block index
        int tool = 0;            // OpenAI tool_calls index
        bool has_arguments = false;
    };

    ToolBlock* toolBlock(std::int64_t block_index) {
        for (auto& entry : tool_blocks_) {
            if (entry.block == block_index) return &entry;
        }
        return nullptr;
    }

    // A tool call without input streams no input_json_delta (or an empty one); OpenAI clients
    // JSON.parse the arguments, so they get "{}" as in the non-streamed translation.
    void onBlockStop(const Json& data, std::string& out) {
        auto* tool = toolBlock(detail::integerMember(data, "index").value_or(0));
        if (!tool || tool->has_arguments) return;
        tool->has_arguments = true;
        Json call{{"index", tool->tool}, {"function", {{"arguments", "{}"}}}};
        appendChunk(out, Json{{"tool_calls", Json::array({std::move(call)})}}, std::nullopt);
    }

    StreamTranslatorOptions options_;
    State state_ = State::Open;
    std::string id_;
    std::string model_;
    bool role_sent_ = false;
    int next_tool_ = 0;
    std::vector<ToolBlock> tool_blocks_;
    std::optional<std::string> finish_reason_;
    detail::TokenUsage tokens_;
};

class OpenAiToAnthropic final : public StreamTranslator {
public:
    explicit OpenAiToAnthropic(StreamTranslatorOptions options)
        : model_(std::move(options.fallback_model)) {}

    void onEvent(const SseEvent& event, std::string& out) override {
        if (state_ != State::Open) return;
        if (event.data == "[DONE]") {
            finish(out);
            return;
        }
        Json chunk = detail::parseJson(event.data);
        if (!chunk.is_object()) return;
        if (const Json* error = detail::member(chunk, "error"); error && error->is_object()) {
            auto message = detail::stringMember(*error, "message").value_or("upstream error");
            appendEvent(out, "error", detail::anthropicErrorJson("api_error", message));
            state_ = State::Failed;
            return;
        }
        start(chunk, out);
        if (const Json* usage = detail::member(chunk, "usage"); usage && usage->is_object()) {
            detail::readOpenAiUsage(*usage, tokens_);
        }
        const Json* choices = detail::member(chunk, "choices");
        if (choices == nullptr || !choices->is_array() || choices->empty()) return;
        const Json& choice = (*choices)[0];
        if (const Json* delta = detail::member(choice, "delta")) onDelta(*delta, out);
        if (auto finish_reason = detail::stringMember(choice, "finish_reason")) {
            closeBlocks(out);
            stop_sequence_ = detail::matchedStopSequence(choice, *finish_reason);
            stop_reason_ = stop_sequence_
                               ? std::string("stop_sequence")
                               : std::string(detail::anthropicStopReason(*finish_reason));
        }
    }

    // OpenAI-style servers end with [DONE]; one that closes right after its finish_reason (and
    // usage) has still finished the answer.
    void onUpstreamEnd(std::string& out) override {
        if (state_ == State::Open && stop_reason_) finish(out);
    }

    State state() const override { return state_; }

private:
    enum class Block { None, Text, Tool };

    void start(const Json& chunk, std::string& out) {
        if (started_) return;
        started_ = true;
        if (auto id = detail::stringMember(chunk, "id")) id_ = *id;
        if (auto model = detail::stringMember(chunk, "model"); model && !model->empty()) {
            model_ = *model;
        }
        Json message{{"id", id_},
                     {"type", "message"},
                     {"role", "assistant"},
                     {"content", Json::array()},
                     {"model", model_},
                     {"stop_reason", nullptr},
                     {"stop_sequence", nullptr},
                     {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}};
        appendEvent(out, "message_start",
                    Json{{"type", "message_start"}, {"message", std::move(message)}});
    }

    void onDelta(const Json& delta, std::string& out) {
        if (auto text = detail::stringMember(delta, "content"); text && !text->empty()) {
            if (block_ != Block::Text) {
                closeBlocks(out);
                openBlock(out, Block::Text, Json{{"type", "text"}, {"text", ""}});
            }
            appendEvent(out, "content_block_delta",
                        Json{{"type", "content_block_delta"},
                             {"index", index_},
                             {"delta", {{"type", "text_delta"}, {"text", *text}}}});
        }
        const Json* calls = detail::member(delta, "tool_calls");
        if (calls == nullptr || !calls->is_array()) return;
        for (const Json& call : *calls) {
            auto tool = detail::integerMember(call, "index").value_or(0);
            const Json& fn = detail::objectMember(call, "function");
            auto arguments = detail::stringMember(fn, "arguments").value_or("");
            bool open = block_ == Block::Tool && tool == tool_;
            if (!open) {
                // Anthropic blocks cannot interleave, and their order is the calls' index
                // order: only the next index in line streams as it comes; any other call is
                // held whole and sent as one block when the open one closes.
                bool next_in_line =
                    block_ != Block::Tool && tool == tools_opened_ && held_tools_.count(tool) == 0;
                if (!next_in_line) {
                    auto& held = held_tools_[tool];
                    if (held.id.empty()) held.id = detail::stringMember(call, "id").value_or("");
                    if (held.name.empty()) {
                        held.name = detail::stringMember(fn, "name").value_or("");
                    }
                    held.arguments += arguments;
                    continue;
                }
                closeBlock(out);  // a text block
                tool_ = tool;
                ++tools_opened_;
                openToolBlock(out, tool, detail::stringMember(call, "id").value_or(""),
                              detail::stringMember(fn, "name").value_or(""));
            }
            if (arguments.empty()) continue;
            appendEvent(
                out, "content_block_delta",
                Json{{"type", "content_block_delta"},
                     {"index", index_},
                     {"delta", {{"type", "input_json_delta"}, {"partial_json", arguments}}}});
        }
    }

    struct HeldTool {
        std::string id;
        std::string name;
        std::string arguments;
    };

    void openToolBlock(std::string& out, std::int64_t tool, std::string_view id,
                       std::string_view name) {
        std::string block_id(id);
        if (block_id.empty()) block_id = "toolu_" + std::to_string(tool);
        openBlock(
            out, Block::Tool,
            Json{
                {"type", "tool_use"}, {"id", block_id}, {"name", name}, {"input", Json::object()}});
    }

    // Closes the open block, then sends the tool calls held back meanwhile, in index order.
    void closeBlocks(std::string& out) {
        closeBlock(out);
        auto held = std::move(held_tools_);
        held_tools_.clear();
        for (auto& [tool, call] : held) {
            tools_opened_ = std::max(tools_opened_, tool + 1);
            openToolBlock(out, tool, call.id, call.name);
            if (!call.arguments.empty()) {
                appendEvent(
                    out, "content_block_delta",
                    Json{{"type", "content_block_delta"},
                         {"index", index_},
                         {"delta",
                          {{"type", "input_json_delta"}, {"partial_json", call.arguments}}}});
            }
            closeBlock(out);
        }
    }

    void openBlock(std::string& out, Block block, Json content_block) {
        block_ = block;
        appendEvent(out, "content_block_start",
                    Json{{"type", "content_block_start"},
                         {"index", index_},
                         {"content_block", std::move(content_block)}});
    }

    void closeBlock(std::string& out) {
        if (block_ == Block::None) return;
        appendEvent(out, "content_block_stop",
                    Json{{"type", "content_block_stop"}, {"index", index_}});
        block_ = Block::None;
        ++index_;
    }

    void finish(std::string& out) {
        start(Json::object(), out);
        closeBlocks(out);
        Json delta{{"stop_reason", stop_reason_.value_or("end_turn")},
                   {"stop_sequence", stop_sequence_ ? Json(*stop_sequence_) : Json(nullptr)}};
        appendEvent(out, "message_delta",
                    Json{{"type", "message_delta"},
                         {"delta", std::move(delta)},
                         {"usage", detail::anthropicUsageJson(tokens_)}});
        appendEvent(out, "message_stop", Json{{"type", "message_stop"}});
        state_ = State::Complete;
    }

    State state_ = State::Open;
    bool started_ = false;
    std::string id_;
    std::string model_;
    Block block_ = Block::None;
    int index_ = 0;           // Anthropic index of the open block (or the next one)
    std::int64_t tool_ = -1;  // OpenAI tool_calls index of the open tool block
    std::map<std::int64_t, HeldTool> held_tools_;  // parallel calls waiting for it to close
    std::int64_t tools_opened_ = 0;                // the next tool index that may stream live
    std::optional<std::string> stop_reason_;
    std::optional<std::string> stop_sequence_;
    detail::TokenUsage tokens_;
};

}  // namespace

std::unique_ptr<StreamTranslator> makeAnthropicToOpenAiStream(StreamTranslatorOptions options) {
    return std::make_unique<AnthropicToOpenAi>(std::move(options));
}

std::unique_ptr<StreamTranslator> makeOpenAiToAnthropicStream(StreamTranslatorOptions options) {
    return std::make_unique<OpenAiToAnthropic>(std::move(options));
}

std::unique_ptr<StreamTranslator> makeStreamTranslator(Translation translation,
                                                       StreamTranslatorOptions options) {
    switch (translation) {
        case Translation::OpenAiToAnthropic:
            return makeAnthropicToOpenAiStream(std::move(options));
        case Translation::AnthropicToOpenAi:
            return makeOpenAiToAnthropicStream(std::move(options));
        case Translation::ResponsesToAnthropic:
            return makeAnthropicToResponsesStream(std::move(options));
        case Translation::None:
            break;
    }
    return nullptr;
}

}  // namespace aiproxy::ai
