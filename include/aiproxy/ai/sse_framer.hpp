#pragma once
// SseFramer: an incremental text/event-stream parser (WHATWG HTML, "Interpreting an event
// stream"). TCP reads split events anywhere, so the framer is fed arbitrary byte chunks and
// yields each event once its terminating blank line has arrived. It copies only what an event
// needs (field lines, never comments) and bounds that copy: an event that grows over the limit
// is dropped, the framer skips to the next blank line and carries on, and overflowed() reports
// it. Offsets are counted from the first byte fed, so a relay that holds bytes back (the stream
// usage filter) can tell which input bytes made up an event.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/sse_event.hpp"

namespace aiproxy::ai {

// Where one event sat in the input: from the first byte of its first field line to just past
// the blank line that dispatched it. Comment and blank lines before it are not part of it.
// A blank line ending in CRLF dispatches at the CR, so its LF is the byte at `end`.
struct SseSpan {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    bool operator==(const SseSpan&) const = default;
};

struct SseFramedEvent {
    SseEvent event;
    SseSpan span;
    bool operator==(const SseFramedEvent&) const = default;
};

class SseFramer {
public:
    // Chat chunks are a few hundred bytes; a whole tool call or a long reasoning delta in one
    // event stays far below this.
    static constexpr std::size_t kDefaultMaxEventBytes = 1024 * 1024;

    explicit SseFramer(std::size_t max_event_bytes = kDefaultMaxEventBytes);

    // Parses bytes and appends every event they complete (events are never cleared here).
    // Line ends are LF, CRLF or CR, also when a CRLF is split between two calls. A leading
    // UTF-8 BOM is skipped. Events without data are not dispatched. SseEvent::id is the last
    // event ID in force (it persists across events, as in the spec).
    void feed(std::string_view bytes, std::vector<SseEvent>& events);
    void feed(std::string_view bytes, std::vector<SseFramedEvent>& events);

    // The stream ended. The spec discards an event that lacks its blank line; this returns it
    // instead (an unterminated last line included) for callers that want to be lenient, such as
    // usage accounting on a cut stream. Resets the pending event either way.
    std::optional<SseEvent> finish();

    // Stream offset of the earliest byte that may still belong to an undispatched event: a
    // relay that must hold events back can release everything before it. Comment lines and
    // blank lines between events are never held.
    std::uint64_t holdFrom() const;

    std::uint64_t offset() const { return fed_; }    // bytes fed so far
    bool overflowed() const { return overflowed_; }  // some event was over the limit, dropped

private:
    enum class LineKind { Empty, Comment, Field };

    template <typename Out>
    void parse(std::string_view bytes, Out& out);
    template <typename Out>
    void parseLines(std::string_view bytes, Out& out);
    void appendToLine(std::string_view segment);
    template <typename Out>
    void endLine(Out& out);
    void applyField(std::string_view line);
    std::size_t pendingBytes() const;
    void overflow();
    void resetEvent();

    std::size_t max_event_bytes_;
    std::uint64_t fed_ = 0;        // bytes given to feed()
    std::uint64_t offset_ = 0;     // bytes consumed by the line parser (BOM bytes included)
    std::size_t bom_matched_ = 0;  // leading bytes that matched the BOM so far
    bool bom_decided_ = false;     // the BOM question is settled
    bool cr_pending_ = false;      // the last line ended with CR: a following LF belongs to it
    bool discarding_ = false;      // skipping an oversized event up to its blank line
    bool overflowed_ = false;
    LineKind line_kind_ = LineKind::Empty;
    std::uint64_t line_start_ = 0;
    std::string line_;  // the current field line (comments are not copied)
    std::optional<std::uint64_t> event_begin_;
    std::string data_;  // data lines, each followed by '\n'
    std::string event_type_;
    std::string last_event_id_;
};

}  // namespace aiproxy::ai
