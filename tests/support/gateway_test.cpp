#include "support/gateway_test.hpp"

#include <iostream>

namespace aiproxy::test {

void expectServedByFallback(const Response& response, const MockBackend& fallback) {
    EXPECT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.body, fallback.defaultBody());
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "fallback");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "2");
    EXPECT_EQ(fallback.requestCount(), 1U);
}

void expectEventsRelayedOneByOne(StreamingClient& client, Gate& gate,
                                 const std::vector<std::string>& events) {
    for (const std::string& expected : events) {
        gate.release();
        auto event = client.nextEvent();
        ASSERT_TRUE(event) << "event " << expected << " did not arrive: " << client.error();
        EXPECT_EQ(event->data, expected);
    }
    gate.release();  // the terminating chunk
    EXPECT_FALSE(client.nextEvent());
}

GatewayConfig GatewayTest::baseConfig() const {
    return {.primary = {{primary_.address()}}, .fallback = {{fallback_.address()}}};
}

::testing::AssertionResult GatewayTest::startGateway(const GatewayConfig& config) {
    if (daemon_.start(config.yaml())) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "aiproxyd did not start listening; its output:\n"
                                         << daemon_.stderrText();
}

Response GatewayTest::post(const std::string& target) {
    return sendRequest(daemon_.port(), chatRequest(target));
}

void GatewayTest::TearDown() {
    if (HasFailure())
        std::cerr << "---- aiproxyd output ----\n" << daemon_.stderrText() << "----\n";
}

}  // namespace aiproxy::test
