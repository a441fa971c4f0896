// Stream translation, Anthropic message events -> OpenAI Responses API streaming events (see
// responses_translation.hpp). Each upstream event is translated as it arrives; the text of the
// open parts is kept because the closing events repeat it.

#include <optional>
#include <string>
#include <utility>

#include "aiproxy/ai/responses_translation.hpp"
#include "translation_detail.hpp"

namespace aiproxy::ai {
namespace {

using detail::Json;
using State = StreamTranslator::State;

class AnthropicToResponses final : public StreamTranslator {
public:
    explicit AnthropicToResponses(StreamTranslatorOptions options)
        : created_(options.created), model_(std::move(options.fallback_model)) {}

    void onEvent(const SseEvent& event, std::string& out) override {
        if (state_ != State::Open) return;
        Json data = detail::parseJson(event.data);
        if (data.is_discarded()) return;
        auto type = detail::stringMember(data, "type").value_or(event.event);
        if (type == "message_start") {
            onMessageStart(data, out);
        } else if (type == "content_block_start") {
            onBlockStart(data, out);
        } else if (type == "content_block_delta") {
            onBlockDelta(data, out);
        } else if (type == "content_block_stop") {
            if (detail::integerMember(data, "index").value_or(0) == text_block_) closePart(out);
        } else if (type == "message_delta") {
            if (const Json* usage = detail::member(data, "usage")) {
                detail::readAnthropicUsage(*usage, tokens_);
            }
            const Json& delta = detail::objectMember(data, "delta");
            if (auto stop = detail::stringMember(delta, "stop_reason")) stop_reason_ = *stop;
        } else if (type == "message_stop") {
            finish(out);
        } else if (type == "ping") {
            out += ": ping\n\n";  // a comment: keeps idle timers of the client's path at bay
        } else if (type == "error") {
            onError(detail::objectMember(data, "error"), out);
        }
        // thinking, tool_use and unknown events carry nothing this translation passes on.
    }

    void onUpstreamEnd(std::string& out) override {
        if (state_ == State::Open && stop_reason_) finish(out);
    }

    State state() const override { return state_; }

private:
    void onMessageStart(const Json& data, std::string& out) {
        const Json& message = detail::objectMember(data, "message");
        if (auto id = detail::stringMember(message, "id")) message_id_ = *id;
        if (auto model = detail::stringMember(message, "model"); model && !model->empty()) {
            model_ = *model;
        }
        if (const Json* usage = detail::member(message, "usage")) {
            detail::readAnthropicUsage(*usage, tokens_);
        }
        ensureCreated(out);
    }

    void ensureCreated(std::string& out) {
        if (created_sent_) return;
        created_sent_ = true;
        if (message_id_.empty()) message_id_ = "msg_" + std::to_string(created_);
        for (std::string_view type : {"response.created", "response.in_progress"}) {
            emit(out, type,
                 Json{{"response", response("in_progress", Json::array(), nullptr, nullptr)}});
        }
    }

    void onBlockStart(const Json& data, std::string& out) {
        ensureCreated(out);
        const Json& block = detail::objectMember(data, "content_block");
        if (detail::stringMember(block, "type").value_or("") != "text") return;
        closePart(out);  // blocks do not interleave; a missing stop must not merge two
        if (!item_open_) {
            item_open_ = true;
            emit(out, "response.output_item.added",
                 Json{{"output_index", 0},
                      {"item", detail::messageItem(message_id_, "in_progress", Json::array())}});
        }
        text_block_ = detail::integerMember(data, "index").value_or(0);
        part_text_.clear();
        emit(out, "response.content_part.added",
             partEvent(Json{{"part", detail::outputTextPart("")}}));
        auto text = detail::stringMember(block, "text").value_or("");
        if (!text.empty()) appendText(text, out);
    }

    void onBlockDelta(const Json& data, std::string& out) {
        ensureCreated(out);
        if (!text_block_ || detail::integerMember(data, "index").value_or(0) != *text_block_) {
            return;
        }
        const Json& delta = detail::objectMember(data, "delta");
        if (detail::stringMember(delta, "type").value_or("") != "text_delta") return;
        appendText(detail::stringMember(delta, "text").value_or(""), out);
    }

    void appendText(std::string_view text, std::string& out) {
        part_text_ += text;
        emit(out, "response.output_text.delta",
             partEvent(Json{{"delta", text}, {"logprobs", Json::array()}}));
    }

    void closePart(std::string& out) {
        if (!text_block_) return;
        emit(out, "response.output_text.done",
             partEvent(Json{{"text", part_text_}, {"logprobs", Json::array()}}));
        emit(out, "response.content_part.done",
             partEvent(Json{{"part", detail::outputTextPart(part_text_)}}));
        parts_.push_back(detail::outputTextPart(part_text_));
        part_text_.clear();
        text_block_.reset();
        ++content_index_;
    }

    void finish(std::string& out) {
        ensureCreated(out);
        closePart(out);
        Json incomplete;
        auto status = detail::responsesStatus(stop_reason_.value_or("end_turn"), incomplete);
        Json output = Json::array();
        if (item_open_) {
            Json item = detail::messageItem(message_id_, status, std::move(parts_));
            emit(out, "response.output_item.done", Json{{"output_index", 0}, {"item", item}});
            output.push_back(std::move(item));
        }
        std::string type = status == "completed" ? "response.completed" : "response.incomplete";
        emit(out, type,
             Json{{"response", response(status, std::move(output), std::move(incomplete),
                                        detail::responsesUsageJson(tokens_))}});
        state_ = State::Complete;
    }

    void onError(const Json& error, std::string& out) {
        emit(out, "error",
             Json{{"code", detail::stringMember(error, "type").value_or("api_error")},
                  {"message", detail::stringMember(error, "message").value_or("upstream error")},
                  {"param", nullptr}});
        state_ = State::Failed;
    }

    Json response(std::string_view status, Json output, Json incomplete, Json usage) const {
        return detail::responsesObject(detail::responsesId(message_id_), created_, model_, status,
                                       std::move(output), std::move(incomplete), std::move(usage));
    }

    // The fields every event about the open text part carries.
    Json partEvent(Json fields) const {
        fields["item_id"] = message_id_;
        fields["output_index"] = 0;
        fields["content_index"] = content_index_;
        return fields;
    }

    void emit(std::string& out, std::string_view type, Json data) {
        data["type"] = type;
        data["sequence_number"] = sequence_++;
        out += "event: ";
        out += type;
        out += "\ndata: ";
        out += detail::dumpJson(data);
        out += "\n\n";
    }

    std::int64_t created_;
    std::string model_;
    State state_ = State::Open;
    bool created_sent_ = false;
    bool item_open_ = false;
    std::string message_id_;
    std::optional<std::int64_t> text_block_;  // Anthropic index of the open text block
    std::int64_t content_index_ = 0;          // Responses index of the open (or next) part
    std::string part_text_;
    Json parts_ = Json::array();  // the closed parts, for output_item.done
    std::int64_t sequence_ = 0;
    std::optional<std::string> stop_reason_;
    detail::TokenUsage tokens_;
};

}  // namespace

std::unique_ptr<StreamTranslator> makeAnthropicToResponsesStream(StreamTranslatorOptions options) {
    return std::make_unique<AnthropicToResponses>(std::move(options));
}

}  // namespace aiproxy::ai
