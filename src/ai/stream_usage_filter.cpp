#include "aiproxy/ai/stream_usage_filter.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "json_access.hpp"

namespace aiproxy::ai {
namespace {

// ordered_json keeps the client's member order when a body has to be re-serialised.
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kStreamOptions = R"("stream_options":{"include_usage":true},)";

}  // namespace

StreamUsageRequest requestStreamUsage(std::string& body, const nlohmann::json* parsed) {
    StreamUsageRequest result;
    if (parsed) {
        if (!parsed->is_object()) return result;
        auto stream = parsed->find("stream");
        if (stream == parsed->end() || !stream->is_boolean() || !stream->get<bool>()) {
            return result;
        }
        auto options = parsed->find("stream_options");
        if (options == parsed->end()) {
            result.streaming = true;
            body.insert(body.find('{') + 1, kStreamOptions);
            result.rewritten = true;
            return result;
        }
        if (options->is_object()) {
            auto include = options->find("include_usage");
            if (include != options->end() && include->is_boolean() && include->get<bool>()) {
                result.streaming = true;
                result.client_asked = true;
                return result;
            }
        }
        // Re-serialising keeps the client's member order only from an ordered parse, below.
    }
    // dump() below recurses once per level: a hostile body must not reach it.
    if (detail::nestsDeeperThan(body, detail::kMaxJsonDepth)) return result;
    OrderedJson request = OrderedJson::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!request.is_object()) return result;
    const auto stream = request.find("stream");
    if (stream == request.end() || !stream->is_boolean() || !stream->get<bool>()) return result;
    result.streaming = true;
    const auto options = request.find("stream_options");
    if (options == request.end()) {
        // The object is not empty ("stream" is in it), so a trailing comma is always right.
        body.insert(body.find('{') + 1, kStreamOptions);
        result.rewritten = true;
        return result;
    }
    if (options->is_null()) *options = OrderedJson::object();
    if (!options->is_object()) return result;
    const auto include = options->find("include_usage");
    if (include != options->end() && include->is_boolean() && include->get<bool>()) {
        result.client_asked = true;
        return result;
    }
    (*options)["include_usage"] = true;
    body = request.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
    result.rewritten = true;
    return result;
}

StreamUsageFilter::StreamUsageFilter(Mode mode, std::size_t max_event_bytes)
    : mode_(mode), framer_(max_event_bytes) {}

std::string_view StreamUsageFilter::feed(std::string_view bytes) {
    events_.clear();
    framer_.feed(bytes, events_);
    if (mode_ == Mode::PassThrough) {
        for (const SseFramedEvent& framed : events_)
            accumulator_.add(framed.event);
        return bytes;
    }
    hidden_.clear();
    for (const SseFramedEvent& framed : events_) {
        if (accumulator_.add(framed.event) == StreamEventKind::UsageOnly) {
            hidden_.push_back(framed.span);
        }
    }
    const std::uint64_t hold = std::max(framer_.holdFrom(), cursor_);
    if (held_.empty() && hidden_.empty() && !drop_lf_at_) {
        // The common case: nothing held from before and nothing to remove. No copy.
        const std::size_t ready = hold - cursor_;
        held_.assign(bytes.substr(ready));
        held_begin_ = cursor_ = hold;
        return bytes.substr(0, ready);
    }
    held_.append(bytes);
    out_.clear();
    for (const SseSpan& span : hidden_) {
        release(span.begin);
        drop(span.end);
    }
    release(hold);
    held_.erase(0, cursor_ - held_begin_);
    held_begin_ = cursor_;
    return out_;
}

std::string_view StreamUsageFilter::finish() {
    const std::optional<SseEvent> trailing = framer_.finish();
    const bool hide = trailing && accumulator_.add(*trailing) == StreamEventKind::UsageOnly;
    if (mode_ == Mode::PassThrough) return {};
    out_.clear();
    if (hide) {
        drop(heldEnd());
    } else {
        release(heldEnd());
    }
    held_.clear();
    held_begin_ = cursor_;
    return out_;
}

void StreamUsageFilter::release(std::uint64_t to) {
    to = std::min(to, heldEnd());
    if (drop_lf_at_ && *drop_lf_at_ == cursor_ && cursor_ < heldEnd()) {
        if (held_[cursor_ - held_begin_] == '\n') ++cursor_;
        drop_lf_at_.reset();
    }
    if (to <= cursor_) return;
    out_.append(held_, cursor_ - held_begin_, to - cursor_);
    cursor_ = to;
}

void StreamUsageFilter::drop(std::uint64_t to) {
    to = std::min(to, heldEnd());
    if (to <= cursor_) return;
    cursor_ = to;
    // A CR ending the dropped event may be the first half of a CRLF still to come.
    drop_lf_at_.reset();
    if (held_[to - 1 - held_begin_] == '\r') drop_lf_at_ = to;
}

}  // namespace aiproxy::ai
