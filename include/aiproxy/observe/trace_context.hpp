#pragma once
// W3C Trace Context (traceparent, tracestate) and the sampling decision. Pure: the worker reads
// the client's headers through these, and a header that does not parse is dropped, never
// forwarded (a malformed id would otherwise travel into every instrumented backend).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aiproxy::observe {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

struct TraceParent {
    TraceId trace_id{};
    SpanId parent_id{};
    bool sampled = false;
};

// "00-<32 hex>-<16 hex>-<2 hex>" as the W3C Trace Context (level 1) reads it: lowercase hex,
// version ff refused, all-zero ids refused, a later version may carry more after a '-'.
std::optional<TraceParent> parseTraceparent(std::string_view header);
std::string formatTraceparent(const TraceId& trace_id, const SpanId& span_id, bool sampled);

// tracestate: at most 32 list members of key=value, at most 512 characters, printable ASCII.
// Forwarded as is when it holds; dropped otherwise.
bool validTracestate(std::string_view header);

std::string toHex(const std::uint8_t* bytes, std::size_t size);
template <std::size_t N>
std::string toHex(const std::array<std::uint8_t, N>& id) {
    return toHex(id.data(), N);
}
bool isZero(const TraceId& id);
bool isZero(const SpanId& id);

// Parent-based sampling: a parent's sampled flag decides; a new trace is kept when its id falls
// under `ratio` (the lower 8 bytes read as a number, as OpenTelemetry's TraceIdRatioBased), so
// every gateway with the same ratio makes the same decision for the same trace.
bool shouldSample(const std::optional<TraceParent>& parent, const TraceId& trace_id, double ratio);

}  // namespace aiproxy::observe
