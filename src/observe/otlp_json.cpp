#include "aiproxy/observe/otlp_json.hpp"

#include <array>
#include <cmath>
#include <cstdio>

#include "aiproxy/observe/access_log.hpp"

namespace aiproxy::observe {
namespace {

void appendKeyValue(std::string& out, std::string_view key, const AttributeValue& value) {
    out += "{\"key\":";
    appendJsonString(out, key);
    out += ",\"value\":{";
    if (const auto* text = std::get_if<std::string>(&value)) {
        out += "\"stringValue\":";
        appendJsonString(out, *text);
    } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
        out += "\"intValue\":\"";
        out += std::to_string(*integer);
        out += '"';
    } else if (const auto* real = std::get_if<double>(&value)) {
        out += "\"doubleValue\":";
        if (std::isfinite(*real)) {
            std::array<char, 40> buffer{};
            std::snprintf(buffer.data(), buffer.size(), "%.17g", *real);
            out += buffer.data();
        } else {
            out += '0';  // JSON has no NaN or infinity; such a value is a bug upstream of here
        }
    } else {
        out += "\"boolValue\":";
        out += std::get<bool>(value) ? "true" : "false";
    }
    out += "}}";
}

void appendSpan(std::string& out, const Span& span) {
    out += "{\"traceId\":\"";
    out += toHex(span.trace_id);
    out += "\",\"spanId\":\"";
    out += toHex(span.span_id);
    out += '"';
    if (!span.trace_state.empty()) {
        out += ",\"traceState\":";
        appendJsonString(out, span.trace_state);
    }
    if (!isZero(span.parent_span_id)) {
        out += ",\"parentSpanId\":\"";
        out += toHex(span.parent_span_id);
        out += '"';
    }
    out += ",\"name\":";
    appendJsonString(out, span.name);
    out += ",\"kind\":";
    out += std::to_string(static_cast<int>(span.kind));
    out += ",\"startTimeUnixNano\":\"";
    out += std::to_string(span.start_unix_nano);
    out += "\",\"endTimeUnixNano\":\"";
    out += std::to_string(span.end_unix_nano);
    out += '"';
    if (!span.attributes.empty()) {  // left out when empty, as protobuf's JSON mapping does
        out += ",\"attributes\":[";
        for (std::size_t i = 0; i < span.attributes.size(); ++i) {
            if (i != 0) out += ',';
            appendKeyValue(out, span.attributes[i].key, span.attributes[i].value);
        }
        out += ']';
    }
    out += ",\"status\":{";
    if (span.status != SpanStatus::Unset) {
        out += "\"code\":";
        out += std::to_string(static_cast<int>(span.status));
        if (!span.status_message.empty()) {
            out += ",\"message\":";
            appendJsonString(out, span.status_message);
        }
    }
    out += "}}";
}

}  // namespace

std::string encodeOtlpJson(const std::vector<Span>& spans, const OtlpResource& resource) {
    std::string out;
    out.reserve(256 + spans.size() * 640);
    out += "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
    appendKeyValue(out, "service.name", std::string(resource.service_name));
    if (!resource.service_version.empty()) {
        out += ',';
        appendKeyValue(out, "service.version", std::string(resource.service_version));
    }
    out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"aiproxyd\"";
    if (!resource.service_version.empty()) {
        out += ",\"version\":";
        appendJsonString(out, resource.service_version);
    }
    out += "},\"spans\":[";
    for (std::size_t i = 0; i < spans.size(); ++i) {
        if (i != 0) out += ',';
        appendSpan(out, spans[i]);
    }
    out += "]}]}]}";
    return out;
}

}  // namespace aiproxy::observe
