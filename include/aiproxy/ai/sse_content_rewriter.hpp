#pragma once
// SseContentRewriter: ai-response-rewrite on an event stream as the client gets it (after any
// translation and the usage-chunk filter), one step after them in the relay's body processing.
//
// Events that carry no text pass byte for byte. Text events (OpenAI chat.completion.chunk with
// choices[].delta.content; Anthropic content_block_delta with a text_delta) get their text
// through a StreamRedactor, one per OpenAI choice or Anthropic text block, so part of the text
// may be held back and come out in a later event; an event is re-serialised only when its text
// changed. Where the text goes:
// - prepend_text: in front of the first text that goes out (per OpenAI choice; once for an
//   Anthropic message).
// - the held rest and append_text: OpenAI: before the chunk with the choice's finish_reason (in
//   its delta when it has content, else in a chunk of the same shape just before it), or before
//   [DONE]. Anthropic: a text_delta before the text block's content_block_stop; when
//   append_text is set, that stop is held until the next event shows whether the message ends
//   (message_delta / message_stop: the footer goes into this block) or another block starts
//   (then the footer comes as a text block of its own when the message ends).
// - flushHeld(): the relay's pause timer; held text goes out in a synthesized delta event.
// Only text that was fed gets prepend/append: a tool-call-only answer passes unchanged.
// Rewritten events are written as "event:" (when named) and "data:" lines; id lines are not
// kept (chat streams do not use them).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/response_rewrite.hpp"
#include "aiproxy/ai/sse_framer.hpp"
#include "aiproxy/ai/stream_redactor.hpp"

namespace aiproxy::ai {

class SseContentRewriter {
public:
    // `rewrite` outlives the rewriter; `api` is the client's (OpenAiChat or AnthropicMessages).
    SseContentRewriter(const ResponseRewrite& rewrite, ClientApi api);

    // Client-side SSE bytes in; the bytes to send now out (may be empty). Valid until the next
    // call. Bytes of an event not complete yet are held.
    std::string_view feed(std::string_view bytes);
    // The stream paused past max_holdback: the held text, in synthesized delta events.
    std::string_view flushHeld();
    // The upstream ended cleanly: the rest, closed with append_text if that is still due.
    std::string_view finish();

    // Some text is held back (the relay arms its pause timer then).
    bool holding() const;
    std::size_t redactions() const;

private:
    struct Text {
        StreamRedactor redactor;
        bool fed = false;  // some non-empty text was fed
        bool prepended = false;
        bool closed = false;  // flushed for good, append_text placed
    };

    void release(std::uint64_t to);
    void onEvent(const SseEvent& event, std::string_view raw);
    void onOpenAiEvent(const SseEvent& event, std::string_view raw);
    void onAnthropicEvent(const SseEvent& event, std::string_view raw);
    bool rewriteAnthropicText(std::string& text);
    Text& openAiChoice(std::int64_t index);
    // What goes out for `text` now: prepend_text first when it is due.
    std::string emitted(Text& state, std::string_view text);
    // Flushes the state for good: held text and append_text (when text was fed).
    std::string closing(Text& state);
    void closeOpenAiChoices();
    void writeOpenAiText(std::int64_t index, const std::string& text);
    void writeAnthropicText(std::int64_t index, const std::string& text);
    void endAnthropicMessage();
    void releaseHeldStop();
    void write(std::string_view name, std::string_view data);

    const ResponseRewrite& rewrite_;
    ClientApi api_;
    SseFramer framer_;
    std::vector<SseFramedEvent> events_;
    std::string pending_;  // input bytes from pending_begin_ not yet released
    std::uint64_t pending_begin_ = 0;
    std::uint64_t cursor_ = 0;  // input bytes before it are decided
    std::string out_;

    // OpenAI: per choice index; the last chunk's data, the shape of synthesized chunks.
    std::map<std::int64_t, Text> choices_;
    std::string last_chunk_;
    bool done_ = false;  // [DONE] passed

    // Anthropic: the message's text; the open text block; a held content_block_stop.
    std::optional<Text> message_;
    std::optional<std::int64_t> text_block_;
    std::int64_t last_block_ = -1;
    std::string held_stop_;
    std::int64_t held_stop_block_ = -1;
    bool appended_ = false;
};

}  // namespace aiproxy::ai
