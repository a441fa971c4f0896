// What a successful request looks like on both sides of the gateway: the upstream request's
// path, host and forwarding headers, and the response headers the client gets.

#include <algorithm>
#include <cctype>

#include <gtest/gtest.h>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using ForwardingTest = GatewayTest;

constexpr std::string_view kCompletion =
    R"({"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]})";

TEST_F(ForwardingTest, PrimaryAnswerIsRelayedWithGatewayHeaders) {
    ASSERT_TRUE(startGateway(baseConfig()));
    primary_.enqueue(Reply::json(200, std::string(kCompletion)));
    Request request = chatRequest("/llm/chat/completions?x=1");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, kCompletion);
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "primary");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
    ASSERT_TRUE(response.headers.has("X-Request-Id"));
    EXPECT_FALSE(response.headers.get("X-Request-Id")->empty());

    ASSERT_EQ(primary_.requestCount(), 1U);
    RecordedRequest upstream = primary_.requests().front();
    EXPECT_EQ(upstream.method, "POST");
    EXPECT_EQ(upstream.target, "/v1/chat/completions?x=1");
    EXPECT_EQ(upstream.body, request.body);
    EXPECT_EQ(upstream.headers.get("X-Request-Id"), response.headers.get("X-Request-Id"));
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

TEST_F(ForwardingTest, UpstreamRequestCarriesForwardedHeadersAndNodeHost) {
    ASSERT_TRUE(startGateway(baseConfig()));
    Request request = chatRequest();
    request.headers.add("Host", "client.example");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    ASSERT_EQ(primary_.requestCount(), 1U);
    Headers seen = primary_.requests().front().headers;
    EXPECT_EQ(seen.get("Host"), primary_.address());
    EXPECT_EQ(seen.get("X-Forwarded-For"), "127.0.0.1");
    EXPECT_EQ(seen.get("X-Forwarded-Proto"), "http");
    EXPECT_EQ(seen.get("X-Forwarded-Host"), "client.example");
    EXPECT_EQ(seen.get("Content-Type"), "application/json");
}

TEST_F(ForwardingTest, ClientHostIsForwardedWhenUpstreamHostIsDisabled) {
    GatewayConfig config = baseConfig();
    config.enable_upstream_host = false;
    ASSERT_TRUE(startGateway(config));
    Request request = chatRequest();
    request.headers.add("Host", "client.example");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    ASSERT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(primary_.requests().front().headers.get("Host"), "client.example");
}

TEST_F(ForwardingTest, ClientRequestIdIsPropagatedBothWays) {
    ASSERT_TRUE(startGateway(baseConfig()));
    Request request = chatRequest();
    request.headers.add("X-Request-Id", "it-request-42");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("X-Request-Id"), "it-request-42");
    ASSERT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(primary_.requests().front().headers.get("X-Request-Id"), "it-request-42");
}

TEST_F(ForwardingTest, GeneratedRequestIdsDifferBetweenRequests) {
    ASSERT_TRUE(startGateway(baseConfig()));

    Response first = post();
    Response second = post();

    ASSERT_EQ(first.status, 200) << first.error;
    ASSERT_EQ(second.status, 200) << second.error;
    ASSERT_TRUE(first.headers.has("X-Request-Id"));
    ASSERT_TRUE(second.headers.has("X-Request-Id"));
    EXPECT_NE(first.headers.get("X-Request-Id"), second.headers.get("X-Request-Id"));
}

TEST_F(ForwardingTest, HopByHopRequestHeadersAreNotForwarded) {
    ASSERT_TRUE(startGateway(baseConfig()));
    Request request = chatRequest();
    request.headers.add("Connection", "keep-alive, X-Foo");
    request.headers.add("X-Foo", "connection-scoped");
    request.headers.add("Keep-Alive", "timeout=5");
    request.headers.add("TE", "trailers");
    request.headers.add("Proxy-Authorization", "Basic dXNlcjpwYXNz");
    request.headers.add("X-End-To-End", "kept");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    ASSERT_EQ(primary_.requestCount(), 1U);
    Headers seen = primary_.requests().front().headers;
    EXPECT_EQ(seen.get("X-End-To-End"), "kept");
    EXPECT_FALSE(seen.has("X-Foo"));
    EXPECT_FALSE(seen.has("Keep-Alive"));
    EXPECT_FALSE(seen.has("TE"));
    EXPECT_FALSE(seen.has("Proxy-Authorization"));
    std::string connection = seen.get("Connection").value_or("");
    std::transform(connection.begin(), connection.end(), connection.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_EQ(connection.find("x-foo"), std::string::npos) << connection;
}

TEST_F(ForwardingTest, HopByHopResponseHeadersAreNotRelayed) {
    ASSERT_TRUE(startGateway(baseConfig()));
    Reply reply = Reply::json(200, std::string(kCompletion));
    reply.headers.add("Connection", "X-Bar");
    reply.headers.add("X-Bar", "connection-scoped");
    reply.headers.add("Keep-Alive", "timeout=5");
    reply.headers.add("Proxy-Authenticate", "Basic realm=\"upstream\"");
    reply.headers.add("X-End-To-End", "kept");
    primary_.enqueue(std::move(reply));

    Response response = post();

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.body, kCompletion);
    EXPECT_EQ(response.headers.get("X-End-To-End"), "kept");
    EXPECT_FALSE(response.headers.has("X-Bar"));
    EXPECT_FALSE(response.headers.has("Keep-Alive"));
    EXPECT_FALSE(response.headers.has("Proxy-Authenticate"));
}

TEST_F(ForwardingTest, UpstreamHeadersAreHiddenWhenTheRouteSaysSo) {
    GatewayConfig config = baseConfig();
    config.expose_upstream_headers = false;
    ASSERT_TRUE(startGateway(config));

    Response response = post();

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.body, primary_.defaultBody());
    EXPECT_FALSE(response.headers.has("X-AIProxy-Upstream"));
    EXPECT_FALSE(response.headers.has("X-AIProxy-Attempts"));
    EXPECT_TRUE(response.headers.has("X-Request-Id"));
}

TEST_F(ForwardingTest, UpstreamConnectionIsReusedAcrossRequests) {
    ASSERT_TRUE(startGateway(baseConfig()));

    for (int i = 0; i < 5; ++i) {
        Response response = post();  // a new client connection each time
        ASSERT_EQ(response.status, 200) << "request " << i << ": " << response.error;
    }

    EXPECT_EQ(primary_.requestCount(), 5U);
    EXPECT_EQ(primary_.acceptedConnections(), 1);
}

}  // namespace
}  // namespace aiproxy::test
