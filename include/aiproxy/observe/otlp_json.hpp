#pragma once
// The OTLP/HTTP JSON encoding of an ExportTraceServiceRequest (opentelemetry-proto's
// trace_service.proto through the protobuf JSON mapping, with OTLP's own rules: trace and span
// ids in lowercase hex, enums as integers, 64-bit integers as decimal strings).

#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/observe/span.hpp"

namespace aiproxy::observe {

struct OtlpResource {
    std::string_view service_name = "aiproxyd";
    std::string_view service_version{};  // left out when empty
};

// One resourceSpans with one scopeSpans ("aiproxyd") holding every span.
std::string encodeOtlpJson(const std::vector<Span>& spans, const OtlpResource& resource);

}  // namespace aiproxy::observe
