// The plugin stages as the worker runs them: which stages a route compiles into and in what
// order, which decide from the head alone, and what each one does to a request's context.

#include <gtest/gtest.h>

#include "aiproxy/common/digest.hpp"
#include "aiproxy/plugins/stages.hpp"
#include "stage_run_support.hpp"

namespace aiproxy::plugins {
namespace {

config::RouteConfig chatRoute() {
    config::RouteConfig route;
    route.id = "chat";
    return route;
}

config::Config configWith(config::RouteConfig route) {
    config::Config config;
    config::ConsumerConfig alice;
    alice.id = "alice";
    alice.key_sha256 = common::sha256Hex("alice-key");
    config.consumers.push_back(alice);
    config.routes.push_back(std::move(route));
    return config;
}

http::ClientRequest requestFrom(std::string address) {
    http::ClientRequest request;
    request.message.method(http::bhttp::verb::post);
    request.message.target("/llm/chat/completions");
    request.peer_address = std::move(address);
    return request;
}

TEST(StagesTest, ARouteWithoutPluginsHasNoStages) {
    StageRun run{configWith(chatRoute())};
    EXPECT_TRUE(run.stages().empty());
}

TEST(StagesTest, StagesComeInPhaseOrderAndOnlyAccessOnesDecideOnTheHead) {
    auto route = chatRoute();
    route.limit_count.emplace();
    route.limit_count->count = 5;
    route.key_auth = config::KeyAuthConfig{};
    route.ip_restriction.emplace();
    route.ip_restriction->whitelist = {"127.0.0.0/8"};
    StageRun run{configWith(route)};
    ASSERT_EQ(run.stages().size(), 3u);
    EXPECT_TRUE(run.stages()[0]->decidesOnHead());
    EXPECT_TRUE(run.stages()[1]->decidesOnHead());
    EXPECT_FALSE(run.stages()[2]->decidesOnHead());
    // ip-restriction runs first: a refused address never reaches key-auth (no key is sent).
    auto request = requestFrom("10.1.2.3");
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(run.run(request, nullptr, &refusal), http::StageVerdict::Refuse);
    ASSERT_TRUE(refusal);
    EXPECT_EQ(refusal->status, 403u);
    EXPECT_EQ(refusal->code, "ip_not_allowed");
}

TEST(StagesTest, KeyAuthNamesTheConsumerAndHidesTheKey) {
    auto route = chatRoute();
    route.key_auth = config::KeyAuthConfig{};
    StageRun run{configWith(route)};
    auto request = requestFrom("127.0.0.1");
    request.message.set(http::bhttp::field::authorization, "Bearer alice-key");
    std::string consumer;
    EXPECT_EQ(run.run(request, &consumer), http::StageVerdict::Continue);
    EXPECT_EQ(consumer, "alice");
    EXPECT_EQ(request.message.count(http::bhttp::field::authorization), 0u);
}

TEST(StagesTest, KeyAuthRefusesAMissingOrUnknownKeyWith401) {
    auto route = chatRoute();
    route.key_auth = config::KeyAuthConfig{};
    StageRun run{configWith(route)};
    auto missing = requestFrom("127.0.0.1");
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(run.run(missing, nullptr, &refusal), http::StageVerdict::Refuse);
    ASSERT_TRUE(refusal);
    EXPECT_EQ(refusal->status, 401u);
    EXPECT_EQ(refusal->code, "missing_api_key");
    ASSERT_EQ(refusal->headers.size(), 1u);
    EXPECT_EQ(refusal->headers[0].first, "WWW-Authenticate");

    auto unknown = requestFrom("127.0.0.1");
    unknown.message.set("apikey", "mallory-key");
    EXPECT_EQ(run.run(unknown, nullptr, &refusal), http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->code, "invalid_api_key");
}

TEST(StagesTest, LimitCountRefusesOnceTheWindowIsUsedUp) {
    auto route = chatRoute();
    route.limit_count.emplace();
    route.limit_count->count = 1;
    route.limit_count->rejected_code = 429;
    StageRun run{configWith(route)};
    auto first = requestFrom("127.0.0.1");
    EXPECT_EQ(run.run(first), http::StageVerdict::Continue);
    auto second = requestFrom("127.0.0.1");
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(run.run(second, nullptr, &refusal), http::StageVerdict::Refuse);
    ASSERT_TRUE(refusal);
    EXPECT_EQ(refusal->status, 429u);
    EXPECT_EQ(refusal->code, "rate_limit_exceeded");
}

}  // namespace
}  // namespace aiproxy::plugins
