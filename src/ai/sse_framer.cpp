#include "aiproxy/ai/sse_framer.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace aiproxy::ai {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

void emit(std::vector<SseEvent>& out, SseEvent&& event, SseSpan) {
    out.push_back(std::move(event));
}

void emit(std::vector<SseFramedEvent>& out, SseEvent&& event, SseSpan span) {
    out.push_back({std::move(event), span});
}

// The first CR or LF at or after `from`, else bytes.size(). Two memchr calls rather than a
// byte-wise search, which cost a stream's relay as much as the rest of its framing: an LF is
// found a vector at a time, then a CR (rare in SSE) only before it.
std::size_t findLineEnd(std::string_view bytes, std::size_t from) {
    if (from >= bytes.size()) return bytes.size();
    const char* begin = bytes.data() + from;
    const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', bytes.size() - from));
    const std::size_t end =
        lf != nullptr ? static_cast<std::size_t>(lf - bytes.data()) : bytes.size();
    const auto* cr = static_cast<const char*>(std::memchr(begin, '\r', end - from));
    return cr != nullptr ? static_cast<std::size_t>(cr - bytes.data()) : end;
}

}  // namespace

SseFramer::SseFramer(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

void SseFramer::feed(std::string_view bytes, std::vector<SseEvent>& events) {
    parse(bytes, events);
}

void SseFramer::feed(std::string_view bytes, std::vector<SseFramedEvent>& events) {
    parse(bytes, events);
}

template <typename Out>
void SseFramer::parse(std::string_view bytes, Out& out) {
    fed_ += bytes.size();
    if (!bom_decided_) {
        // The BOM may itself arrive split; bytes that turn out not to be one are replayed.
        while (!bytes.empty() && bom_matched_ < kBom.size() &&
               bytes.front() == kBom[bom_matched_]) {
            ++bom_matched_;
            bytes.remove_prefix(1);
        }
        if (bom_matched_ == kBom.size()) {
            bom_decided_ = true;
            offset_ = line_start_ = kBom.size();
        } else if (!bytes.empty()) {
            bom_decided_ = true;
            parseLines(kBom.substr(0, bom_matched_), out);
        } else {
            return;
        }
    }
    parseLines(bytes, out);
}

template <typename Out>
void SseFramer::parseLines(std::string_view bytes, Out& out) {
    std::size_t i = 0;
    while (i < bytes.size()) {
        if (cr_pending_) {
            cr_pending_ = false;
            if (bytes[i] == '\n') {
                ++i;
                line_start_ = ++offset_;
                continue;
            }
        }
        const std::size_t end = findLineEnd(bytes, i);
        if (end > i) {
            appendToLine(bytes.substr(i, end - i));
            offset_ += end - i;
        }
        if (end == bytes.size()) break;
        cr_pending_ = bytes[end] == '\r';
        ++offset_;
        i = end + 1;
        endLine(out);
        line_start_ = offset_;
    }
}

void SseFramer::appendToLine(std::string_view segment) {
    if (line_kind_ == LineKind::Empty) {
        line_kind_ = segment.front() == ':' ? LineKind::Comment : LineKind::Field;
    }
    if (discarding_ || line_kind_ == LineKind::Comment) return;
    line_.append(segment);
    if (pendingBytes() > max_event_bytes_) overflow();
}

template <typename Out>
void SseFramer::endLine(Out& out) {
    const LineKind kind = std::exchange(line_kind_, LineKind::Empty);
    if (kind == LineKind::Empty) {
        if (!discarding_ && !data_.empty()) {
            data_.pop_back();  // the '\n' after the last data line
            SseSpan span{event_begin_.value_or(line_start_), offset_};
            emit(out, SseEvent{std::move(event_type_), std::move(data_), last_event_id_}, span);
        }
        discarding_ = false;
        resetEvent();
        return;
    }
    if (kind == LineKind::Field && !discarding_) {
        if (!event_begin_) event_begin_ = line_start_;
        applyField(line_);
    }
    line_.clear();
}

void SseFramer::applyField(std::string_view line) {
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (name == "data") {
        data_.append(value);
        data_.push_back('\n');
    } else if (name == "event") {
        event_type_.assign(value);
    } else if (name == "id") {
        if (value.find('\0') == std::string_view::npos) last_event_id_.assign(value);
    }
    // "retry" only matters to a reconnecting client; unknown fields are ignored by the spec.
}

std::size_t SseFramer::pendingBytes() const {
    return line_.size() + data_.size() + event_type_.size();
}

void SseFramer::overflow() {
    overflowed_ = true;
    discarding_ = true;
    line_.clear();
    resetEvent();
}

void SseFramer::resetEvent() {
    data_.clear();
    event_type_.clear();
    event_begin_.reset();
}

std::optional<SseEvent> SseFramer::finish() {
    std::optional<SseEvent> event;
    if (!discarding_ && line_kind_ == LineKind::Field) applyField(line_);
    if (!discarding_ && !data_.empty()) {
        data_.pop_back();
        event = SseEvent{std::move(event_type_), std::move(data_), last_event_id_};
    }
    discarding_ = false;
    line_kind_ = LineKind::Empty;
    line_.clear();
    resetEvent();
    return event;
}

std::uint64_t SseFramer::holdFrom() const {
    if (!bom_decided_) return 0;
    if (discarding_) return offset_;
    if (event_begin_) return *event_begin_;
    if (line_kind_ == LineKind::Field) return line_start_;
    return offset_;
}

}  // namespace aiproxy::ai
