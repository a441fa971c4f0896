#pragma once
// BodyProcessor: what the relay does to an upstream body on its way to the client (as is,
// framed on the side for usage, the usage-only chunk removed, or translated to the client's
// API; then, on routes with ai-response-rewrite, a stream's text rewritten), and the usage it
// reads on the way.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/ai/sse_content_rewriter.hpp"
#include "aiproxy/ai/sse_framer.hpp"
#include "aiproxy/ai/stream_usage_filter.hpp"
#include "aiproxy/ai/usage.hpp"

namespace aiproxy::ai {

// A plain (non-stream) JSON answer is copied up to this size to read its usage.
inline constexpr std::size_t kMaxUsageCopyBytes = 4 * 1024 * 1024;

// What the relay does to an upstream body on its way to the client, and the usage it reads.
class BodyProcessor {
public:
    enum class Mode {
        Raw,        // bytes as they come; a bounded copy of JSON bodies for their usage
        SideParse,  // event stream relayed as is; events framed on the side for usage
        Filter,     // OpenAI chat stream: the usage-only chunk may be removed
        Translate,  // event stream converted to the client's API
    };

    BodyProcessor(Mode mode, bool anthropic_body, bool hide_usage_chunk,
                  std::unique_ptr<StreamTranslator> translator)
        : mode_(mode),
          anthropic_body_(anthropic_body),
          filter_(hide_usage_chunk ? StreamUsageFilter::Mode::HideUsageChunk
                                   : StreamUsageFilter::Mode::PassThrough),
          translator_(std::move(translator)) {}

    // ai-response-rewrite of an event stream: one more step after the mode's (the client's
    // bytes in, the rewritten bytes out). Unset, a stream costs nothing more.
    void setRewriter(std::unique_ptr<SseContentRewriter> rewriter) {
        rewriter_ = std::move(rewriter);
    }
    bool rewrites() const { return rewriter_ != nullptr; }
    // The rewrite holds text back: the relay flushes it when the upstream pauses.
    bool holding() const { return rewriter_ && rewriter_->holding(); }
    // The held text, as delta events to send now (rewrites() only).
    std::string_view flushHeld() { return rewriter_->flushHeld(); }
    std::size_t redactions() const { return rewriter_ ? rewriter_->redactions() : 0; }

    // The bytes to send for this upstream chunk; may be empty (then send nothing).
    std::string_view feed(std::string_view chunk) {
        if (rewriter_) return rewriter_->feed(feedMode(chunk));
        return feedMode(chunk);
    }

    // The upstream body ended cleanly: what is left to send.
    std::string_view finish() {
        if (!rewriter_) return finishMode();
        tail_.assign(rewriter_->feed(finishMode()));
        tail_.append(rewriter_->finish());
        return tail_;
    }

    void setCopy(bool copy) { copy_ = copy; }

    Usage usage() const {
        switch (mode_) {
            case Mode::Raw:
                if (!copy_ || copied_.empty()) return {};
                return anthropic_body_ ? usageFromAnthropicBody(copied_)
                                       : usageFromOpenAiBody(copied_);
            case Mode::Filter:
                return filter_.usage().usage;
            case Mode::SideParse:
            case Mode::Translate:
                return accumulator_.result().usage;
        }
        return {};
    }

    // Whether relayedTextBytes() is wanted (it costs a scan of every event).
    void countText(bool on) {
        accumulator_.countText(on);
        filter_.countText(on);
    }

    // Generated text seen in a stream so far (StreamUsage::text_bytes); 0 for whole bodies.
    std::uint64_t relayedTextBytes() const {
        switch (mode_) {
            case Mode::Raw:
                return 0;
            case Mode::Filter:
                return filter_.usage().text_bytes;
            case Mode::SideParse:
            case Mode::Translate:
                return accumulator_.result().text_bytes;
        }
        return 0;
    }

private:
    std::string_view feedMode(std::string_view chunk) {
        switch (mode_) {
            case Mode::Raw:
                if (copy_ && copied_.size() + chunk.size() <= kMaxUsageCopyBytes) {
                    copied_.append(chunk);
                } else {
                    copy_ = false;
                }
                return chunk;
            case Mode::SideParse:
                frame(chunk);
                return chunk;
            case Mode::Filter:
                return filter_.feed(chunk);
            case Mode::Translate:
                out_.clear();
                frame(chunk);
                return out_;
        }
        return chunk;
    }

    std::string_view finishMode() {
        if (mode_ == Mode::Filter) return filter_.finish();
        if (mode_ == Mode::Translate) {
            out_.clear();
            translator_->onUpstreamEnd(out_);
            return out_;
        }
        return {};
    }

    void frame(std::string_view chunk);

    Mode mode_;
    bool anthropic_body_;
    bool copy_ = false;
    std::string copied_;
    SseFramer framer_;
    std::vector<SseEvent> events_;
    StreamUsageAccumulator accumulator_;
    StreamUsageFilter filter_;
    std::unique_ptr<StreamTranslator> translator_;
    std::string out_;
    std::unique_ptr<SseContentRewriter> rewriter_;
    std::string tail_;
};

}  // namespace aiproxy::ai
