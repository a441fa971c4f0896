#include "aiproxy/observe/otlp_json.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <limits>

namespace aiproxy::observe {
namespace {

Span sampleSpan() {
    Span span;
    span.trace_id =
        parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")->trace_id;
    span.span_id = SpanId{0, 0, 0, 0, 0, 0, 0, 0x2a};
    span.parent_span_id = SpanId{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    span.name = "chat gpt-4o";
    span.kind = SpanKind::Client;
    span.start_unix_nano = 1700000000123456789ull;
    span.end_unix_nano = 1700000000223456789ull;
    span.set("gen_ai.request.model", std::string("gpt-4o"));
    span.set("gen_ai.usage.input_tokens", std::int64_t{12});
    span.set("aiproxy.cost_usd", 0.25);
    span.set("aiproxy.streamed", true);
    span.status = SpanStatus::Error;
    span.status_message = "upstream said \"no\"";
    return span;
}

TEST(OtlpJsonTest, EncodesTheExportRequestShape) {
    auto json = nlohmann::json::parse(encodeOtlpJson({sampleSpan()}, {.service_version = "1.2"}));
    const auto& resource_spans = json.at("resourceSpans").at(0);
    const auto& resource_attrs = resource_spans.at("resource").at("attributes");
    EXPECT_EQ(resource_attrs.at(0).at("key"), "service.name");
    EXPECT_EQ(resource_attrs.at(0).at("value").at("stringValue"), "aiproxyd");
    EXPECT_EQ(resource_attrs.at(1).at("value").at("stringValue"), "1.2");
    const auto& scope = resource_spans.at("scopeSpans").at(0);
    EXPECT_EQ(scope.at("scope").at("name"), "aiproxyd");
    const auto& span = scope.at("spans").at(0);
    EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(span.at("spanId"), "000000000000002a");
    EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
    EXPECT_EQ(span.at("kind"), 3);                                   // enums as integers
    EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000123456789");  // 64-bit as strings
    EXPECT_EQ(span.at("endTimeUnixNano"), "1700000000223456789");
    EXPECT_EQ(span.at("status").at("code"), 2);
    EXPECT_EQ(span.at("status").at("message"), "upstream said \"no\"");
    const auto& attrs = span.at("attributes");
    EXPECT_EQ(attrs.at(0).at("value").at("stringValue"), "gpt-4o");
    EXPECT_EQ(attrs.at(1).at("value").at("intValue"), "12");
    EXPECT_DOUBLE_EQ(attrs.at(2).at("value").at("doubleValue").get<double>(), 0.25);
    EXPECT_EQ(attrs.at(3).at("value").at("boolValue"), true);
}

TEST(OtlpJsonTest, RootSpanHasNoParentAndUnsetStatusIsEmpty) {
    Span span = sampleSpan();
    span.parent_span_id = {};
    span.status = SpanStatus::Unset;
    auto json = nlohmann::json::parse(encodeOtlpJson({span}, {}));
    const auto& encoded = json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    EXPECT_FALSE(encoded.contains("parentSpanId"));
    EXPECT_TRUE(encoded.at("status").empty());
    EXPECT_EQ(json["resourceSpans"][0]["resource"]["attributes"].size(), 1u);
}

TEST(OtlpJsonTest, NonFiniteDoublesStayValidJson) {
    Span span = sampleSpan();
    span.set("bad", std::numeric_limits<double>::quiet_NaN());
    auto parsed = nlohmann::json::parse(encodeOtlpJson({span}, {}), nullptr, false);
    EXPECT_FALSE(parsed.is_discarded());
}

TEST(OtlpJsonTest, ManySpansInOneScope) {
    auto json =
        nlohmann::json::parse(encodeOtlpJson({sampleSpan(), sampleSpan(), sampleSpan()}, {}));
    EXPECT_EQ(json["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 3u);
}

}  // namespace
}  // namespace aiproxy::observe
