// routes[].plugins.{limit-count, limit-req, ai-rate-limiting} and routes[].max_concurrent:
// APISIX field names and defaults, and every mistake reported with its path.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using namespace std::chrono_literals;
using test::messages;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

LoadResult load(const std::string& plugins, const std::string& route_keys = "") {
    return test::loadOneRoute(plugins, route_keys);
}

const RouteConfig& onlyRoute(const LoadResult& result) {
    return result.config->routes.at(0);
}

TEST(LimitsConfigTest, LimitCountWithApisixDefaults) {
    auto result = load(R"("limit-count": {"count": 3, "time_window": 60})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    const auto& limit = *onlyRoute(result).limit_count;
    EXPECT_EQ(limit.count, 3);
    EXPECT_EQ(limit.time_window, 60);
    EXPECT_EQ(limit.key, (LimitKey{.type = "var", .var = "remote_addr"}));
    EXPECT_EQ(limit.rejected_code, 503);
    EXPECT_TRUE(limit.show_limit_quota_header);
}

TEST(LimitsConfigTest, EveryFieldOfEachPlugin) {
    auto result = load(
        R"("key-auth": {},
           "limit-count": {"count": 10, "time_window": 1, "key_type": "var",
             "key": "consumer_name", "rejected_code": 429, "rejected_msg": "slow down",
             "show_limit_quota_header": false, "policy": "local", "window_type": "fixed",
             "allow_degradation": false},
           "limit-req": {"rate": 0.5, "burst": 2, "key": "http_x_user", "nodelay": true,
             "rejected_code": 429},
           "ai-rate-limiting": {"limit": 2.5, "time_window": 3600, "limit_strategy": "cost",
             "key_type": "var", "key": "consumer_name"})",
        R"("max_concurrent": {"limit": 4, "queue": 8, "queue_timeout": 2.5}, )");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    const auto& route = onlyRoute(result);
    EXPECT_EQ(route.limit_count->key.var, "consumer_name");
    EXPECT_EQ(route.limit_count->rejected_code, 429);
    EXPECT_EQ(route.limit_count->rejected_msg, "slow down");
    EXPECT_FALSE(route.limit_count->show_limit_quota_header);
    EXPECT_EQ(route.limit_req->rate, 0.5);
    EXPECT_EQ(route.limit_req->burst, 2);
    EXPECT_EQ(route.limit_req->key.var, "http_x_user");
    EXPECT_TRUE(route.limit_req->nodelay);
    EXPECT_EQ(route.ai_rate_limiting->limit, 2.5);
    EXPECT_EQ(route.ai_rate_limiting->limit_strategy, "cost");
    EXPECT_EQ(route.ai_rate_limiting->rejected_code, 429);  // the issue's default, not 503
    EXPECT_EQ(route.max_concurrent,
              (MaxConcurrentConfig{.limit = 4, .queue = 8, .queue_timeout = 2500ms}));
}

TEST(LimitsConfigTest, AiRateLimitingCountsTheWholeRouteByDefault) {
    auto result = load(R"("ai-rate-limiting": {"limit": 1000, "time_window": 60})");
    ASSERT_TRUE(result.config);
    const auto& limit = *onlyRoute(result).ai_rate_limiting;
    EXPECT_EQ(limit.key.type, "constant");
    EXPECT_EQ(limit.limit_strategy, "total_tokens");
    EXPECT_EQ(limit.rejected_code, 429);

    // Naming a key alone counts by it.
    auto per_consumer = load(R"("key-auth": {},
        "ai-rate-limiting": {"limit": 1000, "time_window": 60, "key": "consumer_name"})");
    ASSERT_TRUE(per_consumer.config);
    EXPECT_EQ(onlyRoute(per_consumer).ai_rate_limiting->key,
              (LimitKey{.type = "var", .var = "consumer_name"}));
}

TEST(LimitsConfigTest, RedisPolicyWithApisixFieldsAndDefaults) {
    auto result = load(
        R"("limit-count": {"count": 10, "time_window": 60, "policy": "redis",
             "redis_host": "10.0.0.5", "allow_degradation": true},
           "limit-req": {"rate": 5, "policy": "redis", "redis_host": "redis", "redis_port": 6380,
             "redis_username": "gw", "redis_password": "pw", "redis_database": 2,
             "redis_timeout": 250, "redis_ssl": false, "redis_keepalive_pool": 10},
           "ai-rate-limiting": {"limit": 1000, "time_window": 60, "reserve_tokens": 200,
             "policy": "local", "redis_host": "ignored"})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    const auto& route = onlyRoute(result);
    EXPECT_EQ(route.limit_count->policy,
              (LimitPolicyConfig{.redis = RedisPolicyConfig{.host = "10.0.0.5"},
                                 .allow_degradation = true}));
    EXPECT_EQ(route.limit_count->policy.redis->port, 6379);
    EXPECT_EQ(route.limit_count->policy.redis->timeout, 1000ms);
    EXPECT_EQ(route.limit_req->policy.redis, (RedisPolicyConfig{.host = "redis",
                                                                .port = 6380,
                                                                .username = "gw",
                                                                .password = "pw",
                                                                .database = 2,
                                                                .timeout = 250ms}));
    EXPECT_FALSE(route.limit_req->policy.allow_degradation);
    EXPECT_FALSE(route.ai_rate_limiting->policy.redis);
    EXPECT_EQ(route.ai_rate_limiting->reserve_tokens, 200);
}

TEST(LimitsConfigTest, RedisPolicyMistakesNameTheirFields) {
    auto result = load(
        R"("limit-count": {"count": 1, "time_window": 60, "policy": "redis-cluster"},
           "limit-req": {"rate": 5, "policy": "redis", "redis_host": "r", "redis_ssl": true},
           "ai-rate-limiting": {"limit": 10, "time_window": 60, "policy": "redis",
             "redis_host": "r", "redis_port": 0, "redis_timeout": 0, "reserve_tokens": -1})");
    ASSERT_FALSE(result.config);
    const std::string p = "routes[0].plugins.";
    EXPECT_THAT(
        messages(result.errors),
        ElementsAre(p + "limit-count.policy: redis-cluster is not supported; use redis (one "
                        "server or a proxy in front)",
                    p + "limit-req.redis_ssl: TLS to Redis is not supported yet; reach Redis "
                        "over a trusted network or a local TLS tunnel (stunnel) and set "
                        "redis_ssl: false",
                    p + "ai-rate-limiting.redis_port: must be > 0",
                    p + "ai-rate-limiting.redis_timeout: must be > 0",
                    p + "ai-rate-limiting.reserve_tokens: must be >= 0"));
}

TEST(LimitsConfigTest, MistakesAreReportedWithTheirPaths) {
    auto result = load(
        R"("limit-count": {"count": 0, "key": "uri", "policy": "redis", "group": "g"},
           "limit-req": {"burst": -1, "key_type": "var_combination"},
           "ai-rate-limiting": {"limit": 10.5, "time_window": 60, "limit_strategy": "words",
             "instances": [], "rejected_code": 100})",
        R"("max_concurrent": {"queue": -1}, )");
    ASSERT_FALSE(result.config);
    const std::string p = "routes[0].plugins.";
    EXPECT_THAT(
        messages(result.errors),
        ElementsAre(
            "routes[0].max_concurrent.queue: must be >= 0",
            "routes[0].max_concurrent.limit: required", p + "limit-count.count: must be > 0",
            p + "limit-count.group: group is not supported; counters are per route",
            p + "limit-count.time_window: required",
            p + "limit-count.redis_host: required with policy redis",
            p + "limit-count.key: must be remote_addr, consumer_name or http_<header> "
                "(key_type var)",
            p + "limit-req.burst: must be >= 0",
            p + "limit-req.key_type: var_combination is not supported; use var or constant",
            p + "limit-req.rate: required",
            p + "ai-rate-limiting.limit_strategy: must be total_tokens, prompt_tokens, "
                "completion_tokens or cost",
            p + "ai-rate-limiting.instances: per-instance budgets are not supported; one budget "
                "per route (or key)",
            p + "ai-rate-limiting.rejected_code: must be >= 200",
            p + "ai-rate-limiting.limit: must be a whole number of tokens"));
}

TEST(LimitsConfigTest, ConsumerKeysWithoutKeyAuthWarn) {
    auto result = load(R"("limit-count": {"count": 1, "time_window": 1, "key": "consumer_name"})");
    ASSERT_TRUE(result.config);
    EXPECT_THAT(messages(result.warnings),
                ElementsAre("routes[0].plugins.limit-count.key: consumer_name without key-auth on "
                            "the route: requests are counted by remote_addr"));
}

}  // namespace
}  // namespace aiproxy::config
