// ai-proxy's and ai-proxy-multi's hedge: {after_ms, max}.

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using namespace std::chrono_literals;
using test::messages;
using test::noEnvironment;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kUpstreams =
    "upstreams: [{id: u, nodes: {\"127.0.0.1:1\": 1, \"127.0.0.1:2\": 1}}]\n";

LoadResult loadProxy(const std::string& ai_proxy_members) {
    return parseConfig(kUpstreams +
                           "routes:\n  - {id: r, uri: /llm/*, plugins: {ai-proxy: "
                           "{upstream_id: u" +
                           ai_proxy_members + "}}}\n",
                       Format::Yaml, noEnvironment());
}

TEST(HedgeConfigTest, OffWhenAbsent) {
    auto result = loadProxy("");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_FALSE(result.config->routes[0].ai_proxy->hedge);
}

TEST(HedgeConfigTest, AfterMsAndMax) {
    auto result = loadProxy(", hedge: {after_ms: 250, max: 2}");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    const auto& hedge = result.config->routes[0].ai_proxy->hedge;
    ASSERT_TRUE(hedge);
    EXPECT_EQ(hedge->after, 250ms);
    EXPECT_EQ(hedge->max, 2);
}

TEST(HedgeConfigTest, MaxDefaultsToOne) {
    auto result = loadProxy(", hedge: {after_ms: 100}");
    ASSERT_TRUE(result.config);
    ASSERT_TRUE(result.config->routes[0].ai_proxy->hedge);
    EXPECT_EQ(result.config->routes[0].ai_proxy->hedge->max, 1);
}

TEST(HedgeConfigTest, MistakesNameTheirField) {
    auto errors = messages(loadProxy(", hedge: {after_ms: 0, max: 0}").errors);
    EXPECT_THAT(errors, Contains(HasSubstr("routes[0].plugins.ai-proxy.hedge.after_ms: must be")));
    EXPECT_THAT(errors, Contains(HasSubstr("routes[0].plugins.ai-proxy.hedge.max: must be")));
    errors = messages(loadProxy(", hedge: {after_ms: 10, max: 4}").errors);
    EXPECT_THAT(errors, Contains("routes[0].plugins.ai-proxy.hedge.max: must be <= 3"));
    errors = messages(loadProxy(", hedge: {after_ms: fast}").errors);
    EXPECT_THAT(errors, Contains(HasSubstr("routes[0].plugins.ai-proxy.hedge.after_ms")));
    errors = messages(loadProxy(", hedge: {max: 1}").errors);
    EXPECT_THAT(errors, Contains("routes[0].plugins.ai-proxy.hedge.after_ms: required"));
    errors = messages(loadProxy(", hedge: {after_ms: 10, delay: 3}").errors);
    EXPECT_THAT(errors, Contains(HasSubstr("routes[0].plugins.ai-proxy.hedge.delay")));
    errors = messages(loadProxy(", hedge: 200").errors);
    EXPECT_THAT(errors, Contains(HasSubstr("routes[0].plugins.ai-proxy.hedge: must be an object")));
}

TEST(HedgeConfigTest, WarnsWhenRetryLeavesNoRoomForAHedge) {
    auto result = loadProxy(", retry: 0, hedge: {after_ms: 100}");
    ASSERT_TRUE(result.config);
    EXPECT_THAT(
        messages(result.warnings),
        Contains(HasSubstr("routes[0].plugins.ai-proxy.hedge: never sent when retry is 0")));
}

TEST(HedgeConfigTest, AiProxyMultiTakesItToo) {
    auto result = parseConfig(
        "routes:\n  - {id: r, uri: /m/*, plugins: {ai-proxy-multi: {instances: ["
        "{name: a, provider: openai-compatible, weight: 1,"
        " override: {endpoint: 'http://127.0.0.1:9/v1'}},"
        "{name: b, provider: openai-compatible, weight: 1,"
        " override: {endpoint: 'http://127.0.0.1:10/v1'}}],"
        " hedge: {after_ms: 300}}}}\n",
        Format::Yaml, noEnvironment());
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    const auto& hedge = result.config->routes[0].ai_proxy_multi->hedge;
    ASSERT_TRUE(hedge);
    EXPECT_EQ(hedge->after, 300ms);
    auto errors = messages(
        parseConfig("routes:\n  - {id: r, uri: /m/*, plugins: {ai-proxy-multi: {instances: ["
                    "{name: a, provider: openai-compatible, weight: 1,"
                    " override: {endpoint: 'http://127.0.0.1:9/v1'}}],"
                    " hedge: {after_ms: -5}}}}\n",
                    Format::Yaml, noEnvironment())
            .errors);
    EXPECT_THAT(errors,
                Contains(HasSubstr("routes[0].plugins.ai-proxy-multi.hedge.after_ms: must be")));
}

}  // namespace
}  // namespace aiproxy::config
