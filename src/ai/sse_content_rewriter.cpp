#include "aiproxy/ai/sse_content_rewriter.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "json_access.hpp"

namespace aiproxy::ai {
namespace {

// ordered_json keeps the member order of the events the client gets.
using OrderedJson = nlohmann::ordered_json;

OrderedJson parseEvent(std::string_view data) {
    if (detail::nestsDeeperThan(data, detail::kMaxJsonDepth)) {
        return OrderedJson(
            OrderedJson::value_t::discarded);  // NOLINT(modernize-return-braced-init-list)
    }
    return OrderedJson::parse(data, nullptr, /*allow_exceptions=*/false);
}

std::string dump(const OrderedJson& value) {
    return value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

std::int64_t indexOf(const OrderedJson& object) {
    auto index = object.find("index");
    if (index == object.end() || !index->is_number_integer()) return 0;
    return index->get<std::int64_t>();
}

// A string member's text, or nullptr.
std::string* stringMember(OrderedJson& object, std::string_view key) {
    if (!object.is_object()) return nullptr;
    auto found = object.find(key);
    if (found == object.end() || !found->is_string()) return nullptr;
    return &found->get_ref<std::string&>();
}

bool endsEvent(std::string_view bytes) {
    return bytes.empty() || bytes.ends_with("\n\n") || bytes.ends_with("\r\n\r\n") ||
           bytes.ends_with("\r\r");
}

}  // namespace

SseContentRewriter::SseContentRewriter(const ResponseRewrite& rewrite, ClientApi api)
    : rewrite_(rewrite), api_(api) {}

std::string_view SseContentRewriter::feed(std::string_view bytes) {
    out_.clear();
    pending_.append(bytes);
    events_.clear();
    framer_.feed(bytes, events_);
    for (const SseFramedEvent& framed : events_) {
        release(framed.span.begin);  // comments and blank lines between events
        std::string_view raw = std::string_view(pending_).substr(
            framed.span.begin - pending_begin_, framed.span.end - framed.span.begin);
        cursor_ = std::max(cursor_, framed.span.end);
        onEvent(framed.event, raw);
    }
    release(framer_.holdFrom());
    pending_.erase(0, cursor_ - pending_begin_);
    pending_begin_ = cursor_;
    return out_;
}

std::string_view SseContentRewriter::flushHeld() {
    out_.clear();
    if (api_ == ClientApi::AnthropicMessages) {
        if (message_ && text_block_ && message_->redactor.holding()) {
            writeAnthropicText(*text_block_, emitted(*message_, message_->redactor.flush()));
        }
        return out_;
    }
    for (auto& [index, state] : choices_) {
        if (state.redactor.holding()) {
            writeOpenAiText(index, emitted(state, state.redactor.flush()));
        }
    }
    return out_;
}

std::string_view SseContentRewriter::finish() {
    out_.clear();
    if (auto trailing = framer_.finish()) {
        std::string_view raw = std::string_view(pending_).substr(cursor_ - pending_begin_);
        cursor_ = pending_begin_ + pending_.size();
        onEvent(*trailing, raw);
    } else {
        release(pending_begin_ + pending_.size());
    }
    pending_.clear();
    pending_begin_ = cursor_;
    // What follows must not be read as part of an unterminated last event.
    std::size_t before = out_.size();
    bool terminated = endsEvent(out_);
    if (api_ == ClientApi::AnthropicMessages) {
        endAnthropicMessage();
    } else if (!done_) {
        closeOpenAiChoices();
    }
    if (!terminated && out_.size() > before) out_.insert(before, "\n\n");
    return out_;
}

bool SseContentRewriter::holding() const {
    if (api_ == ClientApi::AnthropicMessages) return message_ && message_->redactor.holding();
    return std::any_of(choices_.begin(), choices_.end(),
                       [](const auto& choice) { return choice.second.redactor.holding(); });
}

std::size_t SseContentRewriter::redactions() const {
    std::size_t count = message_ ? message_->redactor.redactions() : 0;
    for (const auto& [index, state] : choices_)
        count += state.redactor.redactions();
    return count;
}

void SseContentRewriter::release(std::uint64_t to) {
    if (to <= cursor_) return;
    out_.append(pending_, cursor_ - pending_begin_, to - cursor_);
    cursor_ = to;
}

void SseContentRewriter::onEvent(const SseEvent& event, std::string_view raw) {
    if (api_ == ClientApi::AnthropicMessages) {
        onAnthropicEvent(event, raw);
    } else {
        onOpenAiEvent(event, raw);
    }
}

void SseContentRewriter::onOpenAiEvent(const SseEvent& event, std::string_view raw) {
    if (event.data == "[DONE]") {
        closeOpenAiChoices();
        done_ = true;
        out_.append(raw);
        return;
    }
    if (event.data.find("\"choices\"") == std::string::npos) {
        out_.append(raw);
        return;
    }
    OrderedJson chunk = parseEvent(event.data);
    OrderedJson* choices =
        chunk.is_object() && chunk.contains("choices") ? &chunk["choices"] : nullptr;
    if (!choices || !choices->is_array()) {
        out_.append(raw);
        return;
    }
    last_chunk_ = event.data;
    bool changed = false;
    std::vector<std::pair<std::int64_t, std::string>> ahead;  // closing text in chunks before
    for (auto& choice : *choices) {
        if (!choice.is_object()) continue;
        std::int64_t index = indexOf(choice);
        Text& state = openAiChoice(index);
        auto delta = choice.find("delta");
        std::string* content = delta != choice.end() ? stringMember(*delta, "content") : nullptr;
        auto finish_reason = choice.find("finish_reason");
        bool finishes = finish_reason != choice.end() && !finish_reason->is_null();
        std::string text;
        if (content) {
            if (!content->empty()) state.fed = true;
            text = emitted(state, state.redactor.feed(*content));
        }
        if (finishes && !state.closed) {
            std::string rest = closing(state);
            if (content) {
                text += rest;
            } else if (!rest.empty()) {
                ahead.emplace_back(index, std::move(rest));
            }
        }
        if (content && text != *content) {
            *content = std::move(text);
            changed = true;
        }
    }
    for (const auto& [index, text] : ahead)
        writeOpenAiText(index, text);
    if (changed) {
        write(event.event, dump(chunk));
    } else {
        out_.append(raw);
    }
}

void SseContentRewriter::onAnthropicEvent(const SseEvent& event, std::string_view raw) {
    std::string type = event.event == "message" ? std::string() : event.event;
    OrderedJson data;
    bool parsed = false;
    auto parse = [&] {
        if (!parsed) data = parseEvent(event.data);
        parsed = true;
        return data.is_object();
    };
    if (type.empty() && parse()) type = data.value("type", "");

    if (type == "content_block_start") {
        releaseHeldStop();
        if (!parse()) {
            out_.append(raw);
            return;
        }
        std::int64_t index = indexOf(data);
        last_block_ = std::max(last_block_, index);
        auto block = data.find("content_block");
        if (block == data.end() || !block->is_object() || block->value("type", "") != "text") {
            out_.append(raw);
            return;
        }
        text_block_ = index;
        if (!message_)
            message_.emplace(Text{.redactor = {rewrite_.redact, rewrite_.max_holdback_chars}});
        std::string* text = stringMember(*block, "text");
        if (!text || text->empty()) {
            out_.append(raw);
            return;
        }
        if (rewriteAnthropicText(*text)) {
            write(type, dump(data));
        } else {
            out_.append(raw);
        }
        return;
    }
    if (type == "content_block_delta") {
        if (!text_block_ || !parse()) {
            out_.append(raw);
            return;
        }
        auto delta = data.find("delta");
        std::string* text = delta != data.end() && delta->value("type", "") == "text_delta"
                                ? stringMember(*delta, "text")
                                : nullptr;
        if (!text || indexOf(data) != *text_block_) {
            out_.append(raw);
            return;
        }
        if (rewriteAnthropicText(*text)) {
            write(type, dump(data));
        } else {
            out_.append(raw);
        }
        return;
    }
    if (type == "content_block_stop") {
        if (!text_block_ || !parse() || indexOf(data) != *text_block_) {
            out_.append(raw);
            return;
        }
        std::int64_t index = *text_block_;
        writeAnthropicText(index, emitted(*message_, message_->redactor.flush()));
        text_block_.reset();
        if (!rewrite_.append_text.empty() && message_->fed && !appended_) {
            held_stop_.assign(raw);  // the footer goes here if the message ends next
            held_stop_block_ = index;
            return;
        }
        out_.append(raw);
        return;
    }
    if (type == "message_delta" || type == "message_stop") {
        endAnthropicMessage();
    } else if (type == "error") {
        // Cut short: what the model said goes out, without the footer of a finished answer.
        if (message_ && text_block_) {
            writeAnthropicText(*text_block_, emitted(*message_, message_->redactor.flush()));
        }
        releaseHeldStop();
    }
    out_.append(raw);
}

// Runs a text of the open text block through the message's redactor, in place; true when what
// goes out differs from what came.
bool SseContentRewriter::rewriteAnthropicText(std::string& text) {
    if (!text.empty()) message_->fed = true;
    std::string out = emitted(*message_, message_->redactor.feed(text));
    if (out == text) return false;
    text = std::move(out);
    return true;
}

SseContentRewriter::Text& SseContentRewriter::openAiChoice(std::int64_t index) {
    auto found = choices_.find(index);
    if (found != choices_.end()) return found->second;
    return choices_.emplace(index, Text{.redactor = {rewrite_.redact, rewrite_.max_holdback_chars}})
        .first->second;
}

std::string SseContentRewriter::emitted(Text& state, std::string_view text) {
    if (text.empty()) return {};
    if (state.prepended) return std::string(text);
    state.prepended = true;
    return rewrite_.prepend_text + std::string(text);
}

std::string SseContentRewriter::closing(Text& state) {
    std::string out = emitted(state, state.redactor.flush());
    if (state.fed) {
        if (!state.prepended) out.insert(0, rewrite_.prepend_text);
        state.prepended = true;
        out += rewrite_.append_text;
    }
    state.closed = true;
    return out;
}

void SseContentRewriter::closeOpenAiChoices() {
    for (auto& [index, state] : choices_) {
        if (!state.closed) writeOpenAiText(index, closing(state));
    }
}

// A chunk shaped like the last one (id, model, created, ...) carrying `text` for one choice.
void SseContentRewriter::writeOpenAiText(std::int64_t index, const std::string& text) {
    if (text.empty()) return;
    OrderedJson chunk = parseEvent(last_chunk_);
    if (!chunk.is_object()) chunk = OrderedJson::object();
    if (chunk.contains("usage")) chunk["usage"] = nullptr;  // counted once, where it came
    chunk["choices"] = OrderedJson::array(
        {{{"index", index}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}});
    write({}, dump(chunk));
}

void SseContentRewriter::writeAnthropicText(std::int64_t index, const std::string& text) {
    if (text.empty()) return;
    OrderedJson event{{"type", "content_block_delta"},
                      {"index", index},
                      {"delta", {{"type", "text_delta"}, {"text", text}}}};
    write("content_block_delta", dump(event));
}

// The message ends: held text and append_text go into the last text block (still open, or
// whose stop was held), or into a text block of their own after a tool call.
void SseContentRewriter::endAnthropicMessage() {
    if (appended_ || !message_ || !message_->fed) {
        releaseHeldStop();
        return;
    }
    appended_ = true;
    std::string rest = closing(*message_);
    if (text_block_) {
        writeAnthropicText(*text_block_, rest);
    } else if (!held_stop_.empty()) {
        writeAnthropicText(held_stop_block_, rest);
        releaseHeldStop();
    } else if (!rest.empty()) {
        std::int64_t index = last_block_ + 1;
        last_block_ = index;
        OrderedJson start{{"type", "content_block_start"},
                          {"index", index},
                          {"content_block", {{"type", "text"}, {"text", ""}}}};
        write("content_block_start", dump(start));
        writeAnthropicText(index, rest);
        write("content_block_stop",
              dump(OrderedJson{{"type", "content_block_stop"}, {"index", index}}));
    }
}

void SseContentRewriter::releaseHeldStop() {
    if (held_stop_.empty()) return;
    out_.append(held_stop_);
    held_stop_.clear();
}

void SseContentRewriter::write(std::string_view name, std::string_view data) {
    if (!name.empty()) {
        out_ += "event: ";
        out_ += name;
        out_ += '\n';
    }
    out_ += "data: ";
    out_ += data;
    out_ += "\n\n";
}

}  // namespace aiproxy::ai
