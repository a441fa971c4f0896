// The client side of the data plane: requests that never reach an upstream (no route, body over
// the limit, malformed HTTP, a header that never completes).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using ClientProtocolTest = GatewayTest;
using Clock = std::chrono::steady_clock;

class NoRouteTest : public GatewayTest, public ::testing::WithParamInterface<std::string> {};

// "/llm/*" is a prefix match on "/llm/", so neither "/llm" nor "/llmx/..." matches it.
TEST_P(NoRouteTest, Gets404RouteNotFoundJson) {
    ASSERT_TRUE(startGateway(baseConfig()));

    Response response = sendRequest(daemon_.port(), {.method = "GET", .target = GetParam()});

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 404);
    nlohmann::json expected = {{"error",
                                {{"message", "no route matches GET " + GetParam()},
                                 {"type", "invalid_request_error"},
                                 {"code", "route_not_found"}}}};
    EXPECT_EQ(nlohmann::json::parse(response.body, nullptr, false), expected) << response.body;
    EXPECT_EQ(primary_.requestCount(), 0U);
}

INSTANTIATE_TEST_SUITE_P(Paths, NoRouteTest,
                         ::testing::Values("/x", "/llm", "/llmx/chat/completions"));

TEST_F(ClientProtocolTest, BodyOverTheLimitGets413AndIsNotForwarded) {
    GatewayConfig config = baseConfig();
    config.limits = {{"max_body_bytes", "1024"}};
    ASSERT_TRUE(startGateway(config));
    Request oversized = chatRequest();
    oversized.body = R"({"model":"gpt-4o-mini","padding":")" + std::string(2048, 'x') + "\"}";

    Response rejected = sendRequest(daemon_.port(), oversized);
    // A request within the limit afterwards is the first one the upstream sees.
    Response accepted = post();

    EXPECT_EQ(rejected.status, 413) << rejected.error;
    ASSERT_EQ(accepted.status, 200) << accepted.error;
    ASSERT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(primary_.requests().front().body, chatRequest().body);
}

class MalformedRequestTest : public GatewayTest,
                             public ::testing::WithParamInterface<std::string> {};

TEST_P(MalformedRequestTest, Gets400) {
    ASSERT_TRUE(startGateway(baseConfig()));
    RawConnection connection{daemon_.port()};
    ASSERT_TRUE(connection.connected());

    ASSERT_TRUE(connection.send(GetParam()));

    EXPECT_TRUE(connection.readUntil("\r\n")) << connection.received();
    EXPECT_EQ(connection.received().substr(0, 13), "HTTP/1.1 400 ") << connection.received();
    EXPECT_EQ(primary_.requestCount(), 0U);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, MalformedRequestTest,
    ::testing::Values(
        "POST /llm/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "POST /llm/chat/completions HTTP/1.1\r\nHost: x\r\nthis line is no header\r\n\r\n",
        "POST /llm/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\nnot hex\r\n0\r\n\r\n"));

TEST_F(ClientProtocolTest, HeaderThatNeverCompletesIsClosedAfterHeaderTimeout) {
    GatewayConfig config = baseConfig();
    config.limits = {{"header_timeout", "0.3"}};
    ASSERT_TRUE(startGateway(config));
    RawConnection connection{daemon_.port()};
    ASSERT_TRUE(connection.connected());
    auto started = Clock::now();

    ASSERT_TRUE(connection.send("POST /llm/chat/completions HTTP/1.1\r\nHost: x\r\n"));

    EXPECT_TRUE(connection.waitClosed(3s)) << "still open 3 s after a 0.3 s header timeout";
    EXPECT_GE(Clock::now() - started, 250ms) << "closed before the header timeout";
    EXPECT_EQ(connection.received().find("HTTP/1.1 2"), std::string::npos);
    EXPECT_EQ(primary_.requestCount(), 0U);
}

}  // namespace
}  // namespace aiproxy::test
