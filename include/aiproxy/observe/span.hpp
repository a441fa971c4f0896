#pragma once
// Span: one finished span as the OTLP exporter sends it, in plain types. Spans are built only
// for sampled requests of a gateway with a tracing endpoint; nothing else makes one.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "aiproxy/observe/trace_context.hpp"

namespace aiproxy::observe {

// OTLP's SpanKind and Status.code values: the JSON encoding writes enums as integers.
enum class SpanKind { Internal = 1, Server = 2, Client = 3 };
enum class SpanStatus { Unset = 0, Ok = 1, Error = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

struct SpanAttribute {
    std::string key;
    AttributeValue value;
};

struct Span {
    TraceId trace_id{};
    SpanId span_id{};
    SpanId parent_span_id{};  // all zero: a root span
    std::string trace_state{};
    std::string name{};
    SpanKind kind = SpanKind::Internal;
    std::uint64_t start_unix_nano = 0;
    std::uint64_t end_unix_nano = 0;
    std::vector<SpanAttribute> attributes{};
    SpanStatus status = SpanStatus::Unset;
    std::string status_message{};

    void set(std::string key, AttributeValue value) {
        attributes.push_back({std::move(key), std::move(value)});
    }
};

}  // namespace aiproxy::observe
