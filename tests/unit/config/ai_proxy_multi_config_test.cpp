// routes[].plugins.ai-proxy-multi: instances become upstreams of one node, APISIX's policy fields
// become the shared retry policy, and every mistake is reported with its path.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using test::messages;
using test::noEnvironment;
using ::testing::ElementsAre;

std::string doc(const std::string& plugin) {
    return R"({"routes": [{"id": "r", "uri": "/llm/*", "plugins": {"ai-proxy-multi": )" + plugin +
           "}}]}";
}

LoadResult load(const std::string& plugin) {
    return parseConfig(doc(plugin), Format::Json, noEnvironment());
}

TEST(AiProxyMultiConfigTest, InstancesBecomeOneNodeUpstreams) {
    auto result = load(R"({
        "fallback_strategy": ["http_429", "http_5xx"],
        "fallback_http_statuses": [401],
        "max_retries": 1, "retry_on_failure_within_ms": 800, "timeout": 9000,
        "balancer": {"algorithm": "chash", "hash_on": "header", "key": "X-User"},
        "instances": [
          {"name": "openai", "provider": "openai", "weight": 3, "priority": 2,
           "auth": {"header": {"Authorization": "Bearer sk"}}, "options": {"model": "gpt-4o"}},
          {"name": "local", "provider": "openai-compatible", "weight": 1,
           "override": {"endpoint": "http://127.0.0.1:8000/v1/chat/completions"},
           "checks": {"active": {"http_path": "/v1/models"}}},
          {"name": "claude", "provider": "anthropic",
           "override": {"endpoint": "https://proxy.example/anthropic"}}
        ]})");
    ASSERT_TRUE(result.config) << ::testing::PrintToString(messages(result.errors));
    const auto& multi = *result.config->routes[0].ai_proxy_multi;
    ASSERT_EQ(multi.instances.size(), 3U);
    const auto& openai = multi.instances[0];
    EXPECT_EQ(openai.id, "openai");
    ASSERT_EQ(openai.nodes.size(), 1U);
    EXPECT_EQ(openai.nodes[0].host, "api.openai.com");
    EXPECT_EQ(openai.nodes[0].port, 443);
    EXPECT_EQ(openai.nodes[0].weight, 3);
    EXPECT_EQ(openai.nodes[0].priority, 2);
    EXPECT_EQ(openai.scheme, Scheme::Https);
    EXPECT_EQ(openai.base_path, "/v1");
    EXPECT_FALSE(openai.pass_client_auth);
    EXPECT_EQ(openai.options, (StringPairs{{"model", "\"gpt-4o\""}}));

    const auto& local = multi.instances[1];
    EXPECT_EQ(local.nodes[0].host, "127.0.0.1");
    EXPECT_EQ(local.nodes[0].port, 8000);
    EXPECT_EQ(local.scheme, Scheme::Http);
    EXPECT_EQ(local.base_path, "/v1");  // the API suffix is the client's to choose
    EXPECT_TRUE(local.checks.active.has_value());

    const auto& claude = multi.instances[2];
    EXPECT_EQ(claude.nodes[0].port, 443);
    EXPECT_EQ(claude.base_path, "/anthropic");
    EXPECT_EQ(claude.nodes[0].weight, 1);

    EXPECT_TRUE(multi.fallback);
    EXPECT_TRUE(std::count(multi.fallback_statuses.begin(), multi.fallback_statuses.end(), 429));
    EXPECT_TRUE(std::count(multi.fallback_statuses.begin(), multi.fallback_statuses.end(), 599));
    EXPECT_TRUE(std::count(multi.fallback_statuses.begin(), multi.fallback_statuses.end(), 401));
    EXPECT_EQ(multi.max_retries, 1);
    EXPECT_EQ(multi.retry_on_failure_within, Milliseconds{800});
    EXPECT_EQ(multi.timeout, Milliseconds{9000});
    EXPECT_EQ(multi.algorithm, "chash");
    EXPECT_EQ(multi.key, "X-User");
}

TEST(AiProxyMultiConfigTest, WithoutFallbackStrategyNothingMovesOn) {
    auto result = load(R"({"instances": [{"name": "a", "provider": "openai"}]})");
    ASSERT_TRUE(result.config);
    const auto& multi = *result.config->routes[0].ai_proxy_multi;
    EXPECT_FALSE(multi.fallback);
    EXPECT_TRUE(multi.fallback_statuses.empty());
    EXPECT_FALSE(multi.max_retries);
}

TEST(AiProxyMultiConfigTest, MistakesNameTheirField) {
    const std::string prefix = "routes[0].plugins.ai-proxy-multi";
    struct Case {
        std::string plugin;
        std::string expected;
    };
    std::vector<Case> cases{
        {R"({})", prefix + ".instances: required"},
        {R"({"instances": []})", prefix + ".instances: at least one instance is required"},
        {R"({"instances": [{"provider": "openai"}]})", prefix + ".instances[0].name: required"},
        {R"({"instances": [{"name": "a"}]})", prefix + ".instances[0].provider: required"},
        {R"({"instances": [{"name": "a", "provider": "openai"}, {"name": "a", "provider": "openai"}]})",
         prefix + ".instances[1].name: duplicate instance name \"a\""},
        {R"({"instances": [{"name": "a", "provider": "openai-compatible"}]})",
         prefix + ".instances[0].override.endpoint: required (provider openai-compatible has no "
                  "public endpoint)"},
        {R"({"instances": [{"name": "a", "provider": "vllm", "override": {"endpoint": "ftp://x"}}]})",
         prefix + ".instances[0].override.endpoint: must be an http:// or https:// URL"},
        {R"({"instances": [{"name": "a", "provider": "openai", "nodes": {"x:1": 1}}]})",
         prefix + ".instances[0].nodes: unknown key"},
        {R"({"instances": [{"name": "a", "provider": "openai", "weight": -1}]})",
         prefix + ".instances[0].weight: must be >= 0"},
        {R"({"fallback_strategy": "http_4xx", "instances": [{"name": "a", "provider": "openai"}]})",
         prefix + ".fallback_strategy: must be one of: instance_health_and_rate_limiting, "
                  "rate_limiting, http_429, http_5xx"},
        {R"({"balancer": {"algorithm": "chash"}, "instances": [{"name": "a", "provider": "openai"}]})",
         prefix + ".balancer.key: missing key"},
        {R"({"max_retries": -1, "instances": [{"name": "a", "provider": "openai"}]})",
         prefix + ".max_retries: must be >= 0"},
    };
    for (const auto& c : cases) {
        auto result = load(c.plugin);
        EXPECT_FALSE(result.config) << c.plugin;
        EXPECT_THAT(messages(result.errors), ElementsAre(c.expected)) << c.plugin;
    }
}

TEST(AiProxyMultiConfigTest, OneRouteCannotHaveBothPlugins) {
    auto result = parseConfig(
        R"({"upstreams": [{"id": "u", "nodes": {"127.0.0.1:1": 1}}],
            "routes": [{"id": "r", "uri": "/x", "plugins": {
              "ai-proxy": {"upstream_id": "u"},
              "ai-proxy-multi": {"instances": [{"name": "a", "provider": "openai"}]}}}]})",
        Format::Json, noEnvironment());
    EXPECT_FALSE(result.config);
    EXPECT_THAT(
        messages(result.errors),
        ElementsAre("routes[0].plugins: ai-proxy and ai-proxy-multi cannot be used together"));
}

}  // namespace
}  // namespace aiproxy::config
