// routes[].plugins.{ai-proxy,ai-proxy-multi}.deadline: one bound on the whole request (every
// attempt, retry and fallback until the response is committed), read and checked like the
// per-attempt timeout in both plugins, in the file and through the Admin API's resource check.

#include <chrono>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "aiproxy/config/objects.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using namespace std::chrono_literals;
using test::messages;
using test::noEnvironment;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::string_view kAiProxy = "ai-proxy";

// The plugin's body with `members` added (each followed by ", "), for either plugin.
std::string pluginBody(std::string_view plugin, const std::string& members) {
    if (plugin == kAiProxy) return "{" + members + R"("upstream_id": "u"})";
    return "{" + members + R"("instances": [{"name": "a", "provider": "openai"}]})";
}

// One route "r" on /llm/* with `plugin` over the upstream "u".
std::string document(std::string_view plugin, const std::string& members) {
    return R"({"upstreams": [{"id": "u", "nodes": {"127.0.0.1:8000": 1}}],
        "routes": [{"id": "r", "uri": "/llm/*", "plugins": {")" +
           std::string{plugin} + R"(": )" + pluginBody(plugin, members) + "}}]}";
}

std::optional<Milliseconds> deadlineOf(std::string_view plugin, const Config& config) {
    const RouteConfig& route = config.routes.at(0);
    return plugin == kAiProxy ? route.ai_proxy->deadline : route.ai_proxy_multi->deadline;
}

class DeadlineConfigTest : public ::testing::TestWithParam<std::string> {
protected:
    // Loads the document with `"deadline": <json>` (no deadline key when json is empty).
    LoadResult load(const std::string& json, Format format = Format::Json) const {
        std::string members = json.empty() ? "" : R"("deadline": )" + json + ", ";
        return parseConfig(document(GetParam(), members), format, noEnvironment());
    }
    std::string path() const { return "routes[0].plugins." + GetParam() + ".deadline"; }
};

TEST_P(DeadlineConfigTest, MillisecondsAreRead) {
    auto result = load("1500");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    EXPECT_EQ(deadlineOf(GetParam(), *result.config), 1500ms);
}

TEST_P(DeadlineConfigTest, AbsentMeansNoBound) {
    auto result = load("");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_EQ(deadlineOf(GetParam(), *result.config), std::nullopt);
}

TEST_P(DeadlineConfigTest, NullCountsAsAbsent) {
    auto result = load("null");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_EQ(deadlineOf(GetParam(), *result.config), std::nullopt);
}

TEST_P(DeadlineConfigTest, LeavesThePerAttemptTimeoutAlone) {
    auto result = load(R"(500, "timeout": 300)");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_EQ(deadlineOf(GetParam(), *result.config), 500ms);
    const RouteConfig& route = result.config->routes.at(0);
    EXPECT_EQ(GetParam() == kAiProxy ? route.ai_proxy->timeout : route.ai_proxy_multi->timeout,
              300ms);
}

TEST_P(DeadlineConfigTest, AnIntegralFloatIsAnInteger) {
    auto result = load("2000.0");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_EQ(deadlineOf(GetParam(), *result.config), 2000ms);
}

TEST_P(DeadlineConfigTest, TheLargestAcceptedValueIsTheTimeoutsOne) {
    auto result = load("1000000000000");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    EXPECT_EQ(deadlineOf(GetParam(), *result.config), Milliseconds{1'000'000'000'000});
}

TEST_P(DeadlineConfigTest, ZeroIsRefused) {
    auto result = load("0");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre(path() + ": must be > 0"));
}

TEST_P(DeadlineConfigTest, NegativeIsRefused) {
    auto result = load("-500");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre(path() + ": must be > 0"));
}

TEST_P(DeadlineConfigTest, AFractionIsRefused) {
    auto result = load("1.5");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre(path() + ": must be an integer"));
}

TEST_P(DeadlineConfigTest, AStringIsRefusedEvenWhenItHoldsDigits) {
    auto result = load(R"("500")");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre(path() + ": must be an integer"));
}

TEST_P(DeadlineConfigTest, OtherTypesAreRefused) {
    for (const std::string json : {"true", "[500]", R"({"ms": 500})"}) {
        auto result = load(json);
        EXPECT_FALSE(result.config) << json;
        EXPECT_THAT(messages(result.errors), ElementsAre(path() + ": must be an integer")) << json;
    }
}

TEST_P(DeadlineConfigTest, BeyondTheTimeoutsUpperBoundIsRefused) {
    auto result = load("1000000000001");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre(path() + ": must be <= 1000000000000"));
}

// The same document in YAML: the quoted scalar stays a string, as everywhere else.
TEST_P(DeadlineConfigTest, YamlReadsTheSameWay) {
    auto read = load("750", Format::Yaml);
    ASSERT_TRUE(read.config) << ::testing::PrintToString(messages(read.errors));
    EXPECT_EQ(deadlineOf(GetParam(), *read.config), 750ms);
    auto quoted = load(R"("750")", Format::Yaml);
    EXPECT_THAT(messages(quoted.errors), ElementsAre(path() + ": must be an integer"));
}

// The Admin API checks a route with the file's reader; its paths are relative to the route.
TEST_P(DeadlineConfigTest, TheAdminResourceCheckUsesTheSameRule) {
    const Resource* routes = findResource("routes");
    ASSERT_NE(routes, nullptr);
    const ObjectIds existing{{"upstreams", {"u"}}};
    auto route = [&](const std::string& members) {
        return Document::parse(R"({"id": "r", "uri": "/llm/*", "plugins": {")" + GetParam() +
                               R"(": )" + pluginBody(GetParam(), members) + "}}");
    };
    const std::string relative = "plugins." + GetParam() + ".deadline";

    EXPECT_THAT(messages(routes->check(route(R"("deadline": 500, )"), existing)), IsEmpty());
    EXPECT_THAT(messages(routes->check(route(""), existing)), IsEmpty());
    EXPECT_THAT(messages(routes->check(route(R"("deadline": 0, )"), existing)),
                ElementsAre(relative + ": must be > 0"));
    EXPECT_THAT(messages(routes->check(route(R"("deadline": "soon", )"), existing)),
                ElementsAre(relative + ": must be an integer"));

    Config config;
    ASSERT_THAT(messages(routes->add(route(R"("deadline": 500, )"), existing, config)), IsEmpty());
    ASSERT_EQ(config.routes.size(), 1U);
    EXPECT_EQ(deadlineOf(GetParam(), config), 500ms);
}

INSTANTIATE_TEST_SUITE_P(BothPlugins, DeadlineConfigTest,
                         ::testing::Values("ai-proxy", "ai-proxy-multi"), [](const auto& instance) {
                             return instance.param == kAiProxy ? std::string{"AiProxy"}
                                                               : std::string{"AiProxyMulti"};
                         });

}  // namespace
}  // namespace aiproxy::config
