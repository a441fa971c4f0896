// Retries and fallback: which failures move a request to the next node or to the fallback
// upstream, which are passed through, and what the client gets when every attempt fails.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using RetryTest = GatewayTest;
using Clock = std::chrono::steady_clock;

// A body the gateway wrote itself: {"error":{"message","type","code"}}, all strings.
void expectGatewayError(const Response& response) {
    EXPECT_NE(response.headers.get("Content-Type").value_or("").find("application/json"),
              std::string::npos);
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << response.body;
    ASSERT_TRUE(body.contains("error")) << response.body;
    const auto& error = body["error"];
    EXPECT_TRUE(error.contains("message") && error["message"].is_string()) << response.body;
    EXPECT_TRUE(error.contains("type") && error["type"].is_string()) << response.body;
    EXPECT_TRUE(error.contains("code") && error["code"].is_string()) << response.body;
}

TEST_F(RetryTest, FallbackAnswersWhenPrimaryRefusesConnections) {
    RefusingPort refusing;
    GatewayConfig config = baseConfig();
    config.primary = {{refusing.address()}};
    ASSERT_TRUE(startGateway(config));

    Response response = post();

    expectServedByFallback(response, fallback_);
}

class RetryOnStatusTest : public GatewayTest, public ::testing::WithParamInterface<int> {};

TEST_P(RetryOnStatusTest, FallbackAnswersWhenPrimaryReturnsRetryableStatus) {
    ASSERT_TRUE(startGateway(baseConfig()));
    primary_.enqueue(Reply::json(GetParam(), R"({"error":{"message":"primary is unhappy"}})"));

    Response response = post();

    expectServedByFallback(response, fallback_);
    EXPECT_EQ(primary_.requestCount(), 1U);
}

INSTANTIATE_TEST_SUITE_P(RetryOn, RetryOnStatusTest, ::testing::Values(500, 502, 503, 504, 429));

class ClientErrorTest : public GatewayTest, public ::testing::WithParamInterface<int> {};

TEST_P(ClientErrorTest, IsPassedThroughWithoutRetry) {
    ASSERT_TRUE(startGateway(baseConfig()));
    const std::string body = R"({"error":{"message":"bad key","type":"invalid_request_error"}})";
    primary_.enqueue(Reply::json(GetParam(), body));

    Response response = post();

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, GetParam());
    EXPECT_EQ(response.body, body);
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "primary");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
    EXPECT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

INSTANTIATE_TEST_SUITE_P(NotRetried, ClientErrorTest, ::testing::Values(400, 401));

class DroppedConnectionTest : public GatewayTest,
                              public ::testing::WithParamInterface<Reply::Kind> {};

TEST_P(DroppedConnectionTest, FallbackAnswersWhenPrimaryDropsBeforeAnswering) {
    ASSERT_TRUE(startGateway(baseConfig()));
    primary_.enqueue(Reply{.kind = GetParam()});

    Response response = post();

    expectServedByFallback(response, fallback_);
    EXPECT_EQ(primary_.requestCount(), 1U);
}

INSTANTIATE_TEST_SUITE_P(ResetOrClose, DroppedConnectionTest,
                         ::testing::Values(Reply::Kind::Reset, Reply::Kind::Close),
                         [](const auto& instance) {
                             return instance.param == Reply::Kind::Reset ? "Reset" : "Close";
                         });

TEST_F(RetryTest, FallbackAnswersAfterPrimaryTimesOutWithinOneExtraTimeout) {
    GatewayConfig config = baseConfig();
    config.timeout_ms = 800;
    ASSERT_TRUE(startGateway(config));
    primary_.enqueue(Reply::hang());

    auto started = Clock::now();
    Response response = post();
    auto elapsed = Clock::now() - started;

    expectServedByFallback(response, fallback_);
    // The first attempt must have waited for its timeout, and the fallback attempt must not
    // have waited for another one.
    EXPECT_GE(elapsed, 750ms);
    EXPECT_LT(elapsed, 1600ms);
    // The timed-out attempt is abandoned: the gateway closes that upstream connection.
    EXPECT_TRUE(primary_.waitForAbandonedHang());
}

TEST_F(RetryTest, SlowAnswerWithinTheTimeoutIsNotRetried) {
    GatewayConfig config = baseConfig();
    config.timeout_ms = 3000;
    ASSERT_TRUE(startGateway(config));
    primary_.enqueue(Reply{.body = R"({"slow":true})", .delay = std::chrono::milliseconds(200)});

    Response response = post();

    EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_EQ(response.body, R"({"slow":true})");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

TEST_F(RetryTest, OtherPrimaryNodeServesBeforeFallback) {
    RefusingPort refusing;
    MockBackend live{"primary-live"};
    GatewayConfig config = baseConfig();
    config.primary = {{refusing.address()}, {live.address()}};
    ASSERT_TRUE(startGateway(config));

    // Round robin over two equal nodes puts the refusing one first in one of two requests.
    bool retried_on_other_node = false;
    for (int i = 0; i < 2; ++i) {
        Response response = post();
        ASSERT_EQ(response.status, 200) << response.error << response.body;
        EXPECT_EQ(response.body, live.defaultBody());
        EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "primary");
        retried_on_other_node |= response.headers.get("X-AIProxy-Attempts") == "2";
    }

    EXPECT_TRUE(retried_on_other_node);
    EXPECT_EQ(live.requestCount(), 2U);
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

TEST_F(RetryTest, NoRetryMeansOneAttempt) {
    GatewayConfig config = baseConfig();
    config.retry = 0;
    ASSERT_TRUE(startGateway(config));
    const std::string body = R"({"error":{"message":"overloaded"}})";
    primary_.enqueue(Reply::json(503, body));

    Response response = post();

    EXPECT_EQ(response.status, 503) << response.error;
    EXPECT_EQ(response.body, body);
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

TEST_F(RetryTest, LastUpstreamErrorIsReturnedWhenAllAttemptsFail) {
    ASSERT_TRUE(startGateway(baseConfig()));
    primary_.enqueue(Reply::json(503, R"({"error":{"message":"primary overloaded"}})"));
    const std::string fallback_body = R"({"error":{"message":"fallback overloaded"}})";
    fallback_.enqueue(Reply::json(503, fallback_body));

    Response response = post();

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.body, fallback_body);
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "fallback");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "2");
}

TEST_F(RetryTest, BadGatewayJsonWhenEveryNodeRefuses) {
    RefusingPort primary_refusing;
    RefusingPort fallback_refusing;
    GatewayConfig config = baseConfig();
    config.primary = {{primary_refusing.address()}};
    config.fallback = {{fallback_refusing.address()}};
    ASSERT_TRUE(startGateway(config));

    Response response = post();

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 502);
    expectGatewayError(response);
}

TEST_F(RetryTest, BadGatewayJsonWhenTheOnlyAttemptGetsGarbage) {
    GatewayConfig config = baseConfig();
    config.retry = 0;
    ASSERT_TRUE(startGateway(config));
    primary_.enqueue(Reply::garbage("SSH-2.0-OpenSSH_9.2\r\n\r\n"));

    Response response = post();

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 502);
    expectGatewayError(response);
}

TEST_F(RetryTest, GatewayTimeoutJsonWhenTheLastAttemptTimesOut) {
    RefusingPort refusing;
    GatewayConfig config = baseConfig();
    config.primary = {{refusing.address()}};
    config.timeout_ms = 300;
    ASSERT_TRUE(startGateway(config));
    fallback_.enqueue(Reply::hang());

    Response response = post();

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 504);
    expectGatewayError(response);
    EXPECT_EQ(fallback_.requestCount(), 1U);
}

}  // namespace
}  // namespace aiproxy::test
