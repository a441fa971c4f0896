#pragma once
// Token accounting on an OpenAI-style stream that the gateway relays.
//
// To count the tokens of a stream the gateway asks the upstream for a usage chunk
// (requestStreamUsage sets stream_options.include_usage). A client that did not ask for it
// must not see that extra chunk ("choices": [] and "usage": {...}), so StreamUsageFilter
// removes it from the relayed bytes and leaves every other byte as it was (the "usage": null
// field the option adds to the other chunks may stay: clients ignore it).
//
// Forwarding is never delayed to parse. In PassThrough mode the output is the input, returned
// at once, and events are parsed on the side. In HideUsageChunk mode only the current
// incomplete event is held back: each event is released as soon as its blank line arrives, and
// comment lines (keep-alives) are not held at all. An event over the framer's size limit is
// released unparsed rather than held without bound.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/sse_framer.hpp"
#include "aiproxy/ai/usage.hpp"

#include <nlohmann/json_fwd.hpp>

namespace aiproxy::ai {

struct StreamUsageRequest {
    bool streaming = false;     // the body is a JSON object with "stream": true
    bool client_asked = false;  // it already had stream_options.include_usage: true
    bool rewritten = false;     // the body was changed to ask for usage
};

// Adds stream_options.include_usage: true to a streaming chat/completions request body, in
// place. A body without stream_options gets the member spliced in after its opening brace, so
// the client's bytes are otherwise untouched; one with a stream_options object lacking the
// flag is re-serialised (member order kept). Non-streaming bodies, bodies that are not JSON
// objects and a stream_options that is not an object are left unchanged (OpenAI rejects
// stream_options on a non-streaming request). Only for OpenAI-style upstreams.
// parsed: the same body already parsed (the request's jsonBody()), which spares the parse in
// the common cases; null parses here.
StreamUsageRequest requestStreamUsage(std::string& body, const nlohmann::json* parsed = nullptr);

class StreamUsageFilter {
public:
    enum class Mode {
        PassThrough,     // the client asked for usage itself: relay every byte
        HideUsageChunk,  // the gateway asked for it: remove the usage-only chunk
    };

    explicit StreamUsageFilter(Mode mode,
                               std::size_t max_event_bytes = SseFramer::kDefaultMaxEventBytes);

    // Takes the next upstream body bytes (de-chunked, in order) and returns the bytes to send
    // to the client now. The view is valid until the next call; it may be empty (write
    // nothing then: an empty HTTP chunk would end the response).
    std::string_view feed(std::string_view bytes);

    // The upstream body ended cleanly. Returns the held tail: the last event when it lacked
    // its blank line (unless it is the usage chunk). Not needed after a cut, when the client's
    // response is ended abruptly anyway; usage() is complete either way.
    std::string_view finish();

    // The accounting so far; on a cut stream, what was delivered (see StreamUsage).
    const StreamUsage& usage() const { return accumulator_.result(); }
    void countText(bool on) { accumulator_.countText(on); }

    // Some event was over the size limit: it was relayed but not parsed.
    bool overflowed() const { return framer_.overflowed(); }

private:
    void release(std::uint64_t to);
    void drop(std::uint64_t to);
    std::uint64_t heldEnd() const { return held_begin_ + held_.size(); }

    Mode mode_;
    SseFramer framer_;
    StreamUsageAccumulator accumulator_;
    std::vector<SseFramedEvent> events_;       // reused between calls
    std::vector<SseSpan> hidden_;              // usage-only events among them
    std::string held_;                         // bytes from held_begin_ not yet released or dropped
    std::uint64_t held_begin_ = 0;             // stream offset of held_[0]
    std::uint64_t cursor_ = 0;                 // bytes before it are decided (released or dropped)
    std::optional<std::uint64_t> drop_lf_at_;  // a dropped event ended in CR: its LF goes too
    std::string out_;
};

}  // namespace aiproxy::ai
