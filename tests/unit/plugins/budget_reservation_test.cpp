// ai-rate-limiting's reserve-then-settle on a fake clock: what a request reserves, what it is
// charged when it ends (usage, a cut stream's estimate, a failure), that concurrent admissions
// cannot overdraw a budget, and what an admission does when a shared store cannot answer.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "aiproxy/plugins/route_limits.hpp"
#include "limits_test_support.hpp"

namespace aiproxy::plugins {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

RequestKeys client(std::string_view address) {
    return {.remote_addr = address, .consumer = {}, .header = {}};
}

config::AiRateLimitingConfig budget(double limit, std::string strategy = "total_tokens") {
    return {.limit = limit, .time_window = 60, .limit_strategy = std::move(strategy)};
}

config::RouteConfig routeWith(config::AiRateLimitingConfig limit) {
    config::RouteConfig out;
    out.id = "chat";
    out.ai_rate_limiting = std::move(limit);
    return out;
}

const config::ModelPrice kPrice{.input_per_mtok = 2, .output_per_mtok = 8};

TEST(BudgetReservationTest, ReservationIsMaxTokensPlusThePromptOrReserveTokens) {
    RequestEstimate estimate{.prompt_tokens = 100, .max_tokens = 400, .price = kPrice};
    EXPECT_EQ(reservationOf(budget(1e6), estimate), 500);
    EXPECT_EQ(reservationOf(budget(1e6, "prompt_tokens"), estimate), 100);
    EXPECT_EQ(reservationOf(budget(1e6, "completion_tokens"), estimate), 400);
    EXPECT_DOUBLE_EQ(reservationOf(budget(1, "cost"), estimate), (100 * 2 + 400 * 8) / 1e6);
    // Without max_tokens only the prompt is known.
    EXPECT_EQ(reservationOf(budget(1e6), {.prompt_tokens = 7}), 7);
    auto fixed = budget(1e6);
    fixed.reserve_tokens = 250;
    EXPECT_EQ(reservationOf(fixed, estimate), 250);
    auto fixed_cost = budget(1, "cost");
    fixed_cost.reserve_tokens = 1000;
    EXPECT_DOUBLE_EQ(reservationOf(fixed_cost, estimate), 1000 * 8 / 1e6);
    EXPECT_EQ(reservationOf(fixed_cost, {}), 0);  // unpriced model: nothing to reserve in USD
    EXPECT_EQ(tokensOfText(0), 0U);
    EXPECT_EQ(tokensOfText(9), 3U);
}

TEST(BudgetReservationTest, ChargeIsTheUsageOrACutStreamsEstimateOrNothingOnFailure) {
    Admission admission{.reserved = 500, .estimate = {.prompt_tokens = 100, .price = kPrice}};
    auto tokens = budget(1e6);
    EXPECT_EQ(chargeOf(tokens, admission, {.prompt_tokens = 120, .completion_tokens = 30}), 150);
    // A stream cut before its usage event: the prompt estimate plus the text relayed.
    EXPECT_EQ(chargeOf(tokens, admission, {.stream = true, .relayed_text_bytes = 400}), 200);
    // ... with the prompt count the stream did say (Anthropic's message_start).
    EXPECT_EQ(chargeOf(tokens, admission,
                       {.prompt_tokens = 90, .stream = true, .relayed_text_bytes = 40}),
              100);
    EXPECT_DOUBLE_EQ(
        chargeOf(budget(1, "cost"), admission, {.stream = true, .relayed_text_bytes = 400}),
        (100 * 2 + 100 * 8) / 1e6);
    // An answer without usage keeps its reservation; a failed one is charged nothing.
    EXPECT_EQ(chargeOf(tokens, admission, {}), 500);
    EXPECT_EQ(chargeOf(tokens, admission, {.succeeded = false}), 0);
}

TEST(BudgetReservationTest, TwentyConcurrentRequestsAgainstABudgetForFiveAdmitExactlyFive) {
    LimitStore store;
    RouteLimits limits{routeWith(budget(500)), store};
    RequestEstimate estimate{.prompt_tokens = 20, .max_tokens = 80};
    std::vector<Admission> admitted;
    for (int i = 0; i < 20; ++i) {  // all admitted before any answer ends
        auto admission = limits.admit(client("10.0.0.1"), kEpoch + 1s, estimate);
        if (!admission.rejection) admitted.push_back(std::move(admission));
    }
    EXPECT_EQ(admitted.size(), 5U);
    // Each used 30 of its 100: 350 come back, and three more requests fit.
    for (const auto& admission : admitted)
        limits.settle(admission, {.prompt_tokens = 20, .completion_tokens = 10}, kEpoch + 2s);
    int more = 0;
    for (int i = 0; i < 20; ++i)
        more += limits.admit(client("10.0.0.1"), kEpoch + 3s, estimate).rejection ? 0 : 1;
    EXPECT_EQ(more, 3);
}

TEST(BudgetReservationTest, ARequestRefusedAfterItsReservationGivesItBack) {
    LimitStore store;
    auto config = routeWith(budget(100));
    config.limit_count = config::LimitCountConfig{.count = 1, .time_window = 60};
    RouteLimits limits{config, store};
    RequestEstimate estimate{.max_tokens = 60};
    auto first = limits.admit(client("10.0.0.1"), kEpoch, estimate);
    ASSERT_FALSE(first.rejection);
    auto second = limits.admit(client("10.0.0.1"), kEpoch, estimate);
    ASSERT_TRUE(second.rejection);  // the budget was full anyway: nothing reserved
    EXPECT_EQ(second.rejection->plugin, LimitPlugin::AiRateLimiting);
    limits.settle(first, {.succeeded = false}, kEpoch + 1s);
    auto third = limits.admit(client("10.0.0.1"), kEpoch + 2s, estimate);
    ASSERT_TRUE(third.rejection);  // limit-count refuses after the reservation was taken ...
    EXPECT_EQ(third.rejection->plugin, LimitPlugin::LimitCount);
    limits.settle(third, {.succeeded = false}, kEpoch + 3s);  // ... which the stage gives back
    config.limit_count.reset();
    RouteLimits budget_only{config, store};
    EXPECT_FALSE(budget_only.admit(client("10.0.0.1"), kEpoch + 4s, estimate).rejection);
}

// A shared store that never answers, as a Redis that is down looks.
class DownStore final : public CounterStore {
public:
    common::awaitable<CounterAnswer> apply(CounterOp, http::StageServices&) override {
        co_return CounterAnswer{.answered = false, .error = "down"};
    }
};

TEST(BudgetReservationTest, AnUnansweredSharedStoreRefusesWith503OrDegradesToLocal) {
    LimitStore store;
    auto down = std::make_shared<DownStore>();
    auto resolver = [&](const config::RedisPolicyConfig&) -> std::shared_ptr<CounterStore> {
        return down;
    };
    config::RouteConfig config;
    config.id = "chat";
    config.limit_count = config::LimitCountConfig{
        .count = 1, .time_window = 60, .policy = {.redis = config::RedisPolicyConfig{.host = "r"}}};
    RouteLimits strict{config, store, resolver};
    auto run = strict.start(client("10.0.0.1"), {}, kEpoch);
    ASSERT_NE(run.next(), nullptr);
    EXPECT_FALSE(run.local());
    run.record({.answered = false, .error = "down"});
    EXPECT_EQ(run.next(), nullptr);
    const auto& rejection = run.result().rejection;
    ASSERT_TRUE(rejection);
    EXPECT_EQ(rejection->status, 503);
    EXPECT_EQ(rejection->code, "limit_store_unavailable");
    EXPECT_EQ(rejection->message,
              "limit-count on route chat cannot reach its shared counter store; retry shortly");

    config.limit_count->policy.allow_degradation = true;
    RouteLimits lenient{config, store, resolver};
    for (int i = 0; i < 2; ++i) {
        auto degraded = lenient.start(client("10.0.0.1"), {}, kEpoch);
        degraded.record({.answered = false, .error = "down"});
        ASSERT_TRUE(degraded.local());  // the same operation, now on the local store
        degraded.record(store.applyNow(*degraded.next()));
        EXPECT_EQ(degraded.next(), nullptr);
        // Counted locally: the second is over the count of 1.
        EXPECT_EQ(degraded.result().rejection.has_value(), i == 1);
    }
}

}  // namespace
}  // namespace aiproxy::plugins
