// RouteLimits on a fake clock: each plugin's verdicts and headers, keys by client address,
// consumer or header, dry-run-then-deduct budgets in tokens and in USD, and the chain order.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "aiproxy/plugins/route_limits.hpp"
#include "limits_test_support.hpp"

namespace aiproxy::plugins {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

std::map<std::string, std::string> headerMap(const config::StringPairs& pairs) {
    return {pairs.begin(), pairs.end()};
}

RequestKeys client(std::string_view address, std::string_view consumer = {}) {
    return {.remote_addr = address, .consumer = consumer, .header = {}};
}

config::RouteConfig route(std::string id = "chat") {
    config::RouteConfig out;
    out.id = std::move(id);
    return out;
}

TEST(RouteLimitsTest, NoPluginsMeansNothingToDo) {
    LimitStore store;
    RouteLimits limits{route(), store};
    EXPECT_TRUE(limits.empty());
    EXPECT_FALSE(limits.admit(client("10.0.0.1"), kEpoch).rejection);
    EXPECT_FALSE(limits.gate());
}

TEST(RouteLimitsTest, LimitCountRefusesTheFourthWithQuotaHeadersAndRetryAfter) {
    LimitStore store;
    auto config = route();
    config.limit_count = config::LimitCountConfig{.count = 3, .time_window = 60};
    RouteLimits limits{config, store};
    for (int i = 1; i <= 3; ++i) {
        auto admission = limits.admit(client("10.0.0.1"), kEpoch + 20s);
        ASSERT_FALSE(admission.rejection) << i;
        auto headers = headerMap(admission.headers);
        EXPECT_EQ(headers["X-RateLimit-Limit"], "3");
        EXPECT_EQ(headers["X-RateLimit-Remaining"], std::to_string(3 - i));
        EXPECT_EQ(headers["X-RateLimit-Reset"], "40");
    }
    auto refused = limits.admit(client("10.0.0.1"), kEpoch + 20'500ms);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->status, 503);
    EXPECT_EQ(refused.rejection->plugin, LimitPlugin::LimitCount);
    auto headers = headerMap(refused.rejection->headers);
    EXPECT_EQ(headers["X-RateLimit-Remaining"], "0");
    EXPECT_EQ(headers["X-RateLimit-Reset"], "40");  // 39.5 s, rounded up
    EXPECT_EQ(headers["Retry-After"], "40");
    // Another client has its own count; the next window starts afresh.
    EXPECT_FALSE(limits.admit(client("10.0.0.2"), kEpoch + 21s).rejection);
    EXPECT_FALSE(limits.admit(client("10.0.0.1"), kEpoch + 60s).rejection);
}

TEST(RouteLimitsTest, ConsumerKeysCountPerConsumerAndFallBackToTheAddress) {
    LimitStore store;
    auto config = route();
    config.limit_count = config::LimitCountConfig{
        .count = 1, .time_window = 60, .key = {.type = "var", .var = "consumer_name"}};
    RouteLimits limits{config, store};
    EXPECT_FALSE(limits.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
    // Same consumer from another address: the same count.
    EXPECT_TRUE(limits.admit(client("10.0.0.2", "alice"), kEpoch).rejection);
    EXPECT_FALSE(limits.admit(client("10.0.0.1", "bob"), kEpoch).rejection);
    // No consumer: counted by address.
    EXPECT_FALSE(limits.admit(client("10.0.0.1"), kEpoch).rejection);
    EXPECT_TRUE(limits.admit(client("10.0.0.1"), kEpoch).rejection);
}

TEST(RouteLimitsTest, HeaderAndConstantKeys) {
    LimitStore store;
    auto by_header = route("h");
    by_header.limit_count = config::LimitCountConfig{
        .count = 1, .time_window = 60, .key = {.type = "var", .var = "http_x_user_id"}};
    RouteLimits header_limits{by_header, store};
    auto user = [](std::string_view id) {
        return RequestKeys{
            .remote_addr = "10.0.0.1",
            .header = [id](std::string_view name) -> std::optional<std::string_view> {
                if (name == "x-user-id") return id;
                return std::nullopt;
            }};
    };
    EXPECT_FALSE(header_limits.admit(user("u1"), kEpoch).rejection);
    EXPECT_FALSE(header_limits.admit(user("u2"), kEpoch).rejection);
    EXPECT_TRUE(header_limits.admit(user("u1"), kEpoch).rejection);

    auto shared = route("c");
    shared.limit_count = config::LimitCountConfig{
        .count = 2, .time_window = 60, .key = {.type = "constant", .var = "all"}};
    RouteLimits shared_limits{shared, store};
    EXPECT_FALSE(shared_limits.admit(client("10.0.0.1"), kEpoch).rejection);
    EXPECT_FALSE(shared_limits.admit(client("10.0.0.2"), kEpoch).rejection);
    EXPECT_TRUE(shared_limits.admit(client("10.0.0.3"), kEpoch).rejection);
}

TEST(RouteLimitsTest, CountsSurviveARebuildWithTheSameWindowAndARaisedLimit) {
    LimitStore store;
    auto config = route();
    config.limit_count = config::LimitCountConfig{.count = 2, .time_window = 60};
    RouteLimits before{config, store};
    before.admit(client("10.0.0.1"), kEpoch);
    before.admit(client("10.0.0.1"), kEpoch);
    config.limit_count->count = 3;
    RouteLimits after{config, store};
    EXPECT_FALSE(after.admit(client("10.0.0.1"), kEpoch).rejection);
    EXPECT_TRUE(after.admit(client("10.0.0.1"), kEpoch).rejection);
    // A new window length is a new count.
    config.limit_count->time_window = 120;
    RouteLimits rewindowed{config, store};
    EXPECT_FALSE(rewindowed.admit(client("10.0.0.1"), kEpoch).rejection);
}

TEST(RouteLimitsTest, TokenBudgetIsADryRunThenDeductsWhatWasUsed) {
    LimitStore store;
    auto config = route();
    config.ai_rate_limiting = config::AiRateLimitingConfig{.limit = 100, .time_window = 60};
    RouteLimits limits{config, store};
    auto first = limits.admit(client("10.0.0.1"), kEpoch);
    ASSERT_FALSE(first.rejection);
    EXPECT_EQ(headerMap(first.headers)["X-AI-RateLimit-Remaining"], "100");
    // A second request is admitted before the first one's usage is known.
    auto second = limits.admit(client("10.0.0.2"), kEpoch);
    ASSERT_FALSE(second.rejection);
    limits.settle(first, {.prompt_tokens = 60, .completion_tokens = 30}, kEpoch + 1s);
    auto third = limits.admit(client("10.0.0.3"), kEpoch + 2s);
    ASSERT_FALSE(third.rejection);
    EXPECT_EQ(headerMap(third.headers)["X-AI-RateLimit-Remaining"], "10");
    // The second request overshoots: 90 + 50 = 140 of 100.
    limits.settle(second, {.prompt_tokens = 40, .completion_tokens = 10}, kEpoch + 3s);
    auto refused = limits.admit(client("10.0.0.1"), kEpoch + 4s);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->status, 429);
    EXPECT_EQ(refused.rejection->type, "tokens");
    auto headers = headerMap(refused.rejection->headers);
    EXPECT_EQ(headers["X-AI-RateLimit-Limit"], "100");
    EXPECT_EQ(headers["X-AI-RateLimit-Remaining"], "0");
    EXPECT_EQ(headers["X-AI-RateLimit-Reset"], "56");
    EXPECT_EQ(headers["Retry-After"], "56");
    EXPECT_FALSE(limits.admit(client("10.0.0.1"), kEpoch + 60s).rejection);
}

TEST(RouteLimitsTest, TokenStrategiesCountTheirPart) {
    LimitStore store;
    for (auto [strategy, expected] :
         {std::pair{"prompt_tokens", "70"}, std::pair{"completion_tokens", "90"},
          std::pair{"total_tokens", "60"}}) {
        auto config = route(strategy);
        config.ai_rate_limiting = config::AiRateLimitingConfig{
            .limit = 100, .time_window = 60, .limit_strategy = strategy};
        RouteLimits limits{config, store};
        auto admission = limits.admit(client("10.0.0.1"), kEpoch);
        limits.settle(admission, {.prompt_tokens = 30, .completion_tokens = 10}, kEpoch);
        EXPECT_EQ(
            headerMap(limits.admit(client("10.0.0.1"), kEpoch).headers)["X-AI-RateLimit-Remaining"],
            expected)
            << strategy;
    }
}

TEST(RouteLimitsTest, CostBudgetInUsd) {
    LimitStore store;
    auto config = route();
    config.ai_rate_limiting =
        config::AiRateLimitingConfig{.limit = 0.05,
                                     .time_window = 3600,
                                     .limit_strategy = "cost",
                                     .key = {.type = "var", .var = "consumer_name"}};
    RouteLimits limits{config, store};
    auto first = limits.admit(client("10.0.0.1", "alice"), kEpoch);
    EXPECT_EQ(headerMap(first.headers)["X-AI-RateLimit-Limit"], "0.05");
    limits.settle(first, {.prompt_tokens = 1000, .completion_tokens = 500, .cost_usd = 0.03},
                  kEpoch);
    auto second = limits.admit(client("10.0.0.1", "alice"), kEpoch);
    ASSERT_FALSE(second.rejection);
    EXPECT_EQ(headerMap(second.headers)["X-AI-RateLimit-Remaining"], "0.02");
    limits.settle(second, {.cost_usd = 0.021}, kEpoch);
    EXPECT_TRUE(limits.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
    // Per consumer: bob's budget is untouched.
    EXPECT_FALSE(limits.admit(client("10.0.0.1", "bob"), kEpoch).rejection);
    // Unknown cost (an unpriced model) deducts nothing.
    auto bob = limits.admit(client("10.0.0.1", "bob"), kEpoch);
    limits.settle(bob, {.prompt_tokens = 10}, kEpoch);
    EXPECT_EQ(
        headerMap(
            limits.admit(client("10.0.0.1", "bob"), kEpoch).headers)["X-AI-RateLimit-Remaining"],
        "0.05");
}

TEST(RouteLimitsTest, LimitReqDelaysWithinTheBurstUnlessNodelayAndRefusesBeyond) {
    LimitStore store;
    auto config = route();
    config.limit_req = config::LimitReqConfig{.rate = 1, .burst = 1, .rejected_code = 429};
    RouteLimits limits{config, store};
    EXPECT_EQ(limits.admit(client("10.0.0.1"), kEpoch).delay, 0ms);
    auto delayed = limits.admit(client("10.0.0.1"), kEpoch);
    ASSERT_FALSE(delayed.rejection);
    EXPECT_EQ(delayed.delay, 1000ms);
    auto refused = limits.admit(client("10.0.0.1"), kEpoch);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->status, 429);
    EXPECT_EQ(refused.rejection->plugin, LimitPlugin::LimitReq);
    EXPECT_EQ(headerMap(refused.rejection->headers)["Retry-After"], "1");

    config.id = "nodelay";
    config.limit_req->nodelay = true;
    RouteLimits nodelay{config, store};
    nodelay.admit(client("10.0.0.1"), kEpoch);
    auto at_once = nodelay.admit(client("10.0.0.1"), kEpoch);
    EXPECT_FALSE(at_once.rejection);
    EXPECT_EQ(at_once.delay, 0ms);
}

TEST(RouteLimitsTest, AnExhaustedBudgetStopsTheChainBeforeCounting) {
    LimitStore store;
    auto config = route();
    config.ai_rate_limiting = config::AiRateLimitingConfig{.limit = 10, .time_window = 60};
    config.limit_count = config::LimitCountConfig{.count = 2, .time_window = 60};
    RouteLimits limits{config, store};
    auto first = limits.admit(client("10.0.0.1"), kEpoch);
    ASSERT_FALSE(first.rejection);
    EXPECT_EQ(first.headers.size(), 6U);  // both plugins' quota headers
    limits.settle(first, {.prompt_tokens = 10}, kEpoch);
    auto refused = limits.admit(client("10.0.0.1"), kEpoch);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->plugin, LimitPlugin::AiRateLimiting);
    // limit-count did not count the refused request: one request is still left.
    config.ai_rate_limiting.reset();
    RouteLimits count_only{config, store};
    auto last = count_only.admit(client("10.0.0.1"), kEpoch);
    ASSERT_FALSE(last.rejection);
    EXPECT_EQ(headerMap(last.headers)["X-RateLimit-Remaining"], "0");
}

TEST(RouteLimitsTest, HiddenQuotaHeadersAndACustomMessage) {
    LimitStore store;
    auto config = route();
    config.limit_count = config::LimitCountConfig{.count = 1,
                                                  .time_window = 60,
                                                  .rejected_code = 429,
                                                  .rejected_msg = "slow down",
                                                  .show_limit_quota_header = false};
    RouteLimits limits{config, store};
    EXPECT_TRUE(limits.admit(client("10.0.0.1"), kEpoch).headers.empty());
    auto refused = limits.admit(client("10.0.0.1"), kEpoch);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->message, "slow down");
    ASSERT_EQ(refused.rejection->headers.size(), 1U);
    EXPECT_EQ(refused.rejection->headers[0].first, "Retry-After");
}

TEST(RouteLimitsTest, MaxConcurrentGetsTheRoutesSharedGate) {
    LimitStore store;
    auto config = route();
    config.max_concurrent = config::MaxConcurrentConfig{.limit = 2, .queue = 1};
    RouteLimits first{config, store};
    RouteLimits rebuilt{config, store};
    ASSERT_TRUE(first.gate());
    EXPECT_EQ(first.gate(), rebuilt.gate());
    EXPECT_FALSE(first.empty());
}

config::ConsumerGroupConfig consumerGroup(std::string id = "gold") {
    config::ConsumerGroupConfig out;
    out.id = std::move(id);
    return out;
}

TEST(RouteLimitsTest, AGroupsCountIsOneBudgetForEveryMemberOnEveryRoute) {
    LimitStore store;
    auto config = consumerGroup();
    config.limit_count = config::LimitCountConfig{
        .count = 3, .time_window = 60, .key = {.type = "constant", .var = ""}};
    RouteLimits group{config, store};
    EXPECT_FALSE(group.empty());
    EXPECT_FALSE(group.gate());  // groups have no max_concurrent
    EXPECT_FALSE(group.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
    EXPECT_FALSE(group.admit(client("10.0.0.2", "bob"), kEpoch).rejection);
    EXPECT_FALSE(group.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
    // The same group compiled again (another snapshot) shares the count.
    RouteLimits rebuilt{config, store};
    auto refused = rebuilt.admit(client("10.0.0.3", "bob"), kEpoch + 1s);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->plugin, LimitPlugin::LimitCount);
    EXPECT_EQ(refused.rejection->message,
              "Rate limit of 3 requests per 60 s reached for consumer group gold");
}

TEST(RouteLimitsTest, AGroupKeyedByConsumerNameCountsPerMember) {
    LimitStore store;
    auto config = consumerGroup();
    config.limit_count = config::LimitCountConfig{
        .count = 1, .time_window = 60, .key = {.type = "var", .var = "consumer_name"}};
    RouteLimits group{config, store};
    EXPECT_FALSE(group.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
    EXPECT_FALSE(group.admit(client("10.0.0.1", "bob"), kEpoch).rejection);
    EXPECT_TRUE(group.admit(client("10.0.0.2", "alice"), kEpoch).rejection);
}

TEST(RouteLimitsTest, AGroupAndARouteWithTheSameIdCountApart) {
    LimitStore store;
    config::LimitCountConfig one{
        .count = 1, .time_window = 60, .key = {.type = "constant", .var = ""}};
    auto group_config = consumerGroup("chat");
    group_config.limit_count = one;
    auto route_config = route("chat");
    route_config.limit_count = one;
    RouteLimits group{group_config, store};
    RouteLimits route_limits{route_config, store};
    EXPECT_FALSE(group.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
    EXPECT_FALSE(route_limits.admit(client("10.0.0.1", "alice"), kEpoch).rejection);
}

TEST(RouteLimitsTest, AGroupTokenBudgetIsDeductedAfterTheResponse) {
    LimitStore store;
    auto config = consumerGroup();
    config.ai_rate_limiting = config::AiRateLimitingConfig{.limit = 100, .time_window = 60};
    RouteLimits group{config, store};
    auto first = group.admit(client("10.0.0.1", "alice"), kEpoch);
    ASSERT_FALSE(first.rejection);
    group.settle(first, {.prompt_tokens = 60, .completion_tokens = 40}, kEpoch);
    auto refused = group.admit(client("10.0.0.2", "bob"), kEpoch + 1s);
    ASSERT_TRUE(refused.rejection);
    EXPECT_EQ(refused.rejection->status, 429);
    EXPECT_EQ(refused.rejection->message,
              "Token budget of 100 total_tokens per 60 s used up for consumer group gold");
}

}  // namespace
}  // namespace aiproxy::plugins
