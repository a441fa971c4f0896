// Trace context through the real daemon, for what needs no OTLP decoding (the batches themselves
// are checked with the official protobuf definitions in tests/tracing/): what the upstream
// receives with tracing off and on, and the access log's trace fields. The collector here is a
// mock backend that accepts every export.

#include <regex>

#include <gtest/gtest.h>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class TracingTest : public GatewayTest {
protected:
    std::string tracedConfig() {
        return baseConfig().yaml() + "tracing:\n  endpoint: \"http://" + collector_.address() +
               "\"\n  batch: {max_delay_ms: 20}\n";
    }
    Response postWith(const std::vector<std::pair<std::string, std::string>>& fields) {
        Request request = chatRequest("/llm/chat/completions");
        for (const auto& [name, value] : fields)
            request.headers.add(name, value);
        return sendRequest(daemon_.port(), request);
    }

    MockBackend collector_{"collector"};
};

TEST_F(TracingTest, WithoutTracingAValidTraceparentPassesThroughUntouched) {
    ASSERT_TRUE(startGateway(baseConfig()));
    Response response = postWith({{"traceparent", kTraceparent}, {"tracestate", "a=1"}});
    ASSERT_EQ(response.status, 200) << response.error;
    Headers seen = primary_.requests().front().headers;
    EXPECT_EQ(seen.get("traceparent"), kTraceparent);
    EXPECT_EQ(seen.get("tracestate"), "a=1");
    auto line = accessLogLine(daemon_, *response.headers.get("X-Request-Id"));
    ASSERT_TRUE(line);
    EXPECT_FALSE(line->contains("trace_id")) << "the access log is as it was without tracing";
}

TEST_F(TracingTest, WithoutTracingAMalformedTraceparentIsNeverForwarded) {
    ASSERT_TRUE(startGateway(baseConfig()));
    Response response = postWith({{"traceparent", "00-xyz-01"}, {"tracestate", "a=1"}});
    ASSERT_EQ(response.status, 200) << response.error;
    Headers seen = primary_.requests().front().headers;
    EXPECT_FALSE(seen.has("traceparent"));
    EXPECT_FALSE(seen.has("tracestate"));
}

TEST_F(TracingTest, EachAttemptSendsItsOwnSpanInTheCallersTrace) {
    ASSERT_TRUE(daemon_.start(tracedConfig()));
    primary_.enqueue(Reply::json(503, R"({"error":{"message":"busy"}})"));
    Response response = postWith({{"traceparent", kTraceparent}});
    ASSERT_EQ(response.status, 200) << response.error;
    auto to_primary = primary_.requests().front().headers.get("traceparent");
    auto to_fallback = fallback_.requests().front().headers.get("traceparent");
    ASSERT_TRUE(to_primary && to_fallback);
    std::regex same_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01");
    EXPECT_TRUE(std::regex_match(*to_primary, same_trace)) << *to_primary;
    EXPECT_TRUE(std::regex_match(*to_fallback, same_trace)) << *to_fallback;
    EXPECT_NE(*to_primary, *to_fallback);
    EXPECT_EQ(to_primary->find("00f067aa0ba902b7"), std::string::npos);
    // X-AIProxy-Trace stays the gateway's own attempt summary.
    EXPECT_TRUE(std::regex_match(*response.headers.get("X-AIProxy-Trace"),
                                 std::regex("primary:503:\\d+ms,fallback:200:ttft=\\d+ms")))
        << *response.headers.get("X-AIProxy-Trace");

    auto line = accessLogLine(daemon_, *response.headers.get("X-Request-Id"));
    ASSERT_TRUE(line);
    EXPECT_EQ(line->value("trace_id", ""), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_TRUE(std::regex_match(line->value("span_id", ""), std::regex("[0-9a-f]{16}")));
    // The export reaches the collector, off the request's path.
    ASSERT_TRUE(collector_.waitForRequests(1));
    auto exported = collector_.requests().front();
    EXPECT_EQ(exported.target, "/v1/traces");
    EXPECT_EQ(exported.headers.get("Content-Type"), "application/json");
    EXPECT_NE(exported.body.find(line->value("span_id", "")), std::string::npos);
}

TEST_F(TracingTest, AMalformedTraceparentStartsANewTrace) {
    ASSERT_TRUE(daemon_.start(tracedConfig()));
    Response response = postWith(
        {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-zz-01"}, {"tracestate", "a=1"}});
    ASSERT_EQ(response.status, 200) << response.error;
    Headers seen = primary_.requests().front().headers;
    auto sent = seen.get("traceparent");
    ASSERT_TRUE(sent);
    EXPECT_TRUE(std::regex_match(*sent, std::regex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"))) << *sent;
    EXPECT_EQ(sent->find("4bf92f3577b34da6a3ce929d0e0e4736"), std::string::npos);
    EXPECT_FALSE(seen.has("tracestate"));
}

TEST_F(TracingTest, BadTracingSettingsFailTheCheckWithTheirPath) {
    auto yaml = baseConfig().yaml() +
                "tracing:\n  endpoint: https://collector:4318\n  sample_ratio: 2\n"
                "  batch: {max_spans: 10, max_queue: 5}\n";
    EXPECT_FALSE(daemon_.start(yaml, std::chrono::seconds(5)));
    auto text = daemon_.stderrText();
    EXPECT_NE(text.find("tracing.endpoint: https is not supported"), std::string::npos) << text;
    EXPECT_NE(text.find("tracing.sample_ratio: must be a number from 0 to 1"), std::string::npos);
    EXPECT_NE(text.find("tracing.batch.max_spans: must not exceed max_queue"), std::string::npos);
}

}  // namespace
}  // namespace aiproxy::test
