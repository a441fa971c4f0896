// tracing.*: the OTLP endpoint (split for the exporter), headers, sampling and batching.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using namespace std::chrono_literals;
using test::messages;
using ::testing::ElementsAre;

LoadResult load(const std::string& tracing) {
    return test::loadOneRoute("", "", R"("tracing": )" + tracing + ", ");
}

TEST(TracingConfigTest, OffWithoutAnEndpoint) {
    auto result = test::loadOneRoute("");
    ASSERT_TRUE(result.config);
    EXPECT_FALSE(result.config->tracing.enabled());
}

TEST(TracingConfigTest, ABaseEndpointGetsTheSignalPath) {
    auto result = load(R"({"endpoint": "http://collector:4318"})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    const auto& tracing = result.config->tracing;
    EXPECT_TRUE(tracing.enabled());
    EXPECT_EQ(tracing.host, "collector");
    EXPECT_EQ(tracing.port, 4318);
    EXPECT_EQ(tracing.target, "/v1/traces");
    EXPECT_EQ(tracing.sample_ratio, 1.0);
    EXPECT_EQ(tracing.batch, TracingBatchConfig{});
}

TEST(TracingConfigTest, PathsAreKeptOrCompletedAsOtlpExportersDo) {
    auto as_is = load(R"({"endpoint": "http://[::1]:4318/otlp/v1/traces"})");
    ASSERT_TRUE(as_is.config);
    EXPECT_EQ(as_is.config->tracing.host, "::1");
    EXPECT_EQ(as_is.config->tracing.target, "/otlp/v1/traces");
    auto base = load(R"({"endpoint": "http://tempo/otlp/"})");
    ASSERT_TRUE(base.config);
    EXPECT_EQ(base.config->tracing.port, 80);
    EXPECT_EQ(base.config->tracing.target, "/otlp/v1/traces");
}

TEST(TracingConfigTest, EverySettingIsRead) {
    auto result = load(
        R"({"endpoint": "http://127.0.0.1:4318", "headers": {"authorization": "Bearer t"},
            "sample_ratio": 0.25, "batch": {"max_spans": 10, "max_delay_ms": 200,
            "max_queue": 100}})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    const auto& tracing = result.config->tracing;
    EXPECT_EQ(tracing.headers, (StringPairs{{"authorization", "Bearer t"}}));
    EXPECT_EQ(tracing.sample_ratio, 0.25);
    EXPECT_EQ(tracing.batch,
              (TracingBatchConfig{.max_spans = 10, .max_delay = 200ms, .max_queue = 100}));
}

TEST(TracingConfigTest, MistakesAreReportedWithTheirPaths) {
    auto result = load(
        R"({"endpoint": "ftp://x", "headers": {"bad name": "v"}, "sample_ratio": -1,
            "batch": {"max_spans": 0, "max_delay_ms": 0, "max_queue": 1000}, "extra": 1})");
    ASSERT_FALSE(result.config);
    EXPECT_THAT(
        messages(result.errors),
        ElementsAre("tracing.endpoint: must be an http:// URL such as http://127.0.0.1:4318",
                    "tracing.headers[\"bad name\"]: must be a header name (letters, digits, "
                    "'-', '_', '.')",
                    "tracing.sample_ratio: must be a number from 0 to 1",
                    "tracing.batch.max_spans: must be > 0",
                    "tracing.batch.max_delay_ms: must be > 0", "tracing.extra: unknown key"));
}

TEST(TracingConfigTest, EndpointsWithoutAUsableHostOrPortAreRefused) {
    for (const char* endpoint : {"http://", "http://:4318", "http://host:0", "http://host:99999",
                                 "http://host:x", "https://host"}) {
        auto result = load(std::string(R"({"endpoint": ")") + endpoint + "\"}");
        EXPECT_FALSE(result.config) << endpoint;
    }
}

}  // namespace
}  // namespace aiproxy::config
