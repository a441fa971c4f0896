#pragma once
// BodyProcessor: what the relay does to an upstream body on its way to the client (as is,
// framed on the side for usage, the usage-only chunk removed, or translated to the client's
// API), and the usage it reads on the way.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/anthropic_translation.hpp"
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

    // The bytes to send for this upstream chunk; may be empty (then send nothing).
    std::string_view feed(std::string_view chunk) {
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

    // The upstream body ended cleanly: what is left to send.
    std::string_view finish() {
        if (mode_ == Mode::Filter) return filter_.finish();
        if (mode_ == Mode::Translate) {
            out_.clear();
            translator_->onUpstreamEnd(out_);
            return out_;
        }
        return {};
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

private:
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
};

}  // namespace aiproxy::ai
