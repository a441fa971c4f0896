// sse_framer_fuzzer: SseFramer on arbitrary event streams. TCP splits a stream anywhere, so the
// property that matters is that chunking changes nothing: the stream is framed once whole and
// once in pseudo-random chunks (empty ones included), with both feed() overloads.
//
// Input: byte 0 chooses the event size limit (bit 7 set: the default, else 1 + low 7 bits, so
// overflow is reached), byte 1 seeds the chunk sizes, the rest is the stream.
// Broken invariants abort(): whole and chunked framing disagree (events, spans, offsets,
// overflow, finish()), an event over the limit, CR or LF inside a single-line field, spans out
// of order or outside the bytes fed, holdFrom() moving backwards or past the bytes fed.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/ai/sse_framer.hpp"

namespace aiproxy::fuzz {
namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "sse_framer_fuzzer: %s\n", what);
    std::abort();
}

struct Outcome {
    std::vector<ai::SseFramedEvent> events;
    std::optional<ai::SseEvent> last;  // what finish() returned
    std::uint64_t offset = 0;
    bool overflowed = false;
    bool operator==(const Outcome&) const = default;
};

// Deterministic chunk sizes from one seed byte: mostly small, sometimes empty or large.
class Chunker {
public:
    explicit Chunker(std::uint8_t seed) : state_(0x9E3779B9u ^ seed) {}
    std::size_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return (state_ & 7) == 0 ? state_ % 256 : state_ % 9;
    }

private:
    std::uint32_t state_;
};

void checkEvent(const ai::SseFramedEvent& framed, std::size_t limit, std::uint64_t fed,
                std::uint64_t previous_end) {
    const ai::SseEvent& event = framed.event;
    if (event.data.size() + event.event.size() > limit || event.id.size() > limit) {
        fail("an event over the size limit");
    }
    if (event.data.find('\r') != std::string::npos ||
        event.event.find_first_of("\r\n") != std::string::npos ||
        event.id.find_first_of("\r\n") != std::string::npos) {
        fail("a line end inside a field");
    }
    if (framed.span.begin >= framed.span.end || framed.span.end > fed ||
        framed.span.begin < previous_end) {
        fail("a span out of order or outside the input");
    }
}

Outcome frame(std::string_view stream, std::size_t limit, std::optional<std::uint8_t> seed) {
    ai::SseFramer framer{limit};
    Outcome outcome;
    std::uint64_t hold = 0;
    auto feed = [&](std::string_view chunk) {
        std::size_t before = outcome.events.size();
        framer.feed(chunk, outcome.events);
        for (std::size_t i = before; i < outcome.events.size(); ++i) {
            checkEvent(outcome.events[i], limit, framer.offset(),
                       i == 0 ? 0 : outcome.events[i - 1].span.end);
        }
        std::uint64_t now = framer.holdFrom();
        if (now < hold || now > framer.offset()) fail("holdFrom() out of bounds");
        hold = now;
    };
    if (seed) {
        Chunker chunker{*seed};
        while (!stream.empty()) {
            std::size_t n = std::min(chunker.next(), stream.size());
            feed(stream.substr(0, n));
            stream.remove_prefix(n);
        }
    } else {
        feed(stream);
    }
    outcome.offset = framer.offset();
    outcome.overflowed = framer.overflowed();
    outcome.last = framer.finish();
    return outcome;
}

// The plain overload must yield the same events as the framed one.
void checkPlainOverload(std::string_view stream, std::size_t limit, const Outcome& expected) {
    ai::SseFramer framer{limit};
    std::vector<ai::SseEvent> events;
    std::size_t half = stream.size() / 2;
    framer.feed(stream.substr(0, half), events);
    framer.feed(stream.substr(half), events);
    if (events.size() != expected.events.size()) fail("the overloads disagree on the count");
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (!(events[i] == expected.events[i].event)) fail("the overloads disagree on an event");
    }
    if (framer.finish() != expected.last) fail("the overloads disagree on finish()");
}

}  // namespace
}  // namespace aiproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace aiproxy;
    if (size < 2) return 0;
    std::size_t limit = (data[0] & 0x80) != 0 ? ai::SseFramer::kDefaultMaxEventBytes
                                              : static_cast<std::size_t>(data[0] & 0x7f) + 1;
    std::string_view stream{reinterpret_cast<const char*>(data) + 2, size - 2};

    fuzz::Outcome whole = fuzz::frame(stream, limit, std::nullopt);
    if (whole.offset != stream.size()) fuzz::fail("offset() is not the bytes fed");
    if (!(fuzz::frame(stream, limit, data[1]) == whole)) {
        fuzz::fail("chunked framing differs from whole framing");
    }
    fuzz::checkPlainOverload(stream, limit, whole);
    return 0;
}
