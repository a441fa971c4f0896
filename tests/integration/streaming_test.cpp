// Streamed (SSE) responses: relayed event by event, retried only before the first body byte,
// cut off (never retried) after it, and cancelled upstream when the client walks away.

#include <gtest/gtest.h>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using StreamingTest = GatewayTest;
using State = StreamingClient::State;

std::vector<std::string> chunks(const std::string& prefix, int count) {
    std::vector<std::string> events;
    for (int i = 1; i <= count; ++i) {
        events.push_back(R"({"choices":[{"delta":{"content":")" + prefix + std::to_string(i) +
                         R"("}}]})");
    }
    return events;
}

// Reads events until the stream stops being open.
std::vector<std::string> readAllEvents(StreamingClient& client) {
    std::vector<std::string> events;
    while (auto event = client.nextEvent())
        events.push_back(event->data);
    return events;
}

TEST_F(StreamingTest, EventsAreRelayedOneByOneAsTheyArrive) {
    ASSERT_TRUE(startGateway(baseConfig()));
    auto gate = std::make_shared<Gate>();
    std::vector<std::string> events = chunks("tok", 3);
    events.push_back("[DONE]");
    primary_.enqueue(Reply::gatedSse(events, gate));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(primary_.waitForRequests(1));

    expectEventsRelayedOneByOne(client, *gate, events);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(client.status(), 200);
    EXPECT_EQ(client.headers().get("X-Accel-Buffering"), "no");
    EXPECT_NE(client.headers().get("Content-Type").value_or("").find("text/event-stream"),
              std::string::npos);
    EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "primary");
    EXPECT_EQ(client.headers().get("X-AIProxy-Attempts"), "1");
}

TEST_F(StreamingTest, FallbackStreamServesWhenPrimaryDropsBeforeTheFirstEvent) {
    ASSERT_TRUE(startGateway(baseConfig()));
    primary_.enqueue(Reply::headerThenClose());
    fallback_.enqueue(Reply::sse(chunks("fallback", 2)));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));

    std::vector<std::string> events = readAllEvents(client);

    EXPECT_EQ(events, chunks("fallback", 2));
    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(client.status(), 200);
    EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "fallback");
    EXPECT_EQ(client.headers().get("X-AIProxy-Attempts"), "2");
    EXPECT_EQ(primary_.requestCount(), 1U);
}

class BrokenStreamTest : public GatewayTest, public ::testing::WithParamInterface<StreamEnd> {};

TEST_P(BrokenStreamTest, ClientSeesEventsSoFarThenAnIncompleteStreamWithoutRetry) {
    ASSERT_TRUE(startGateway(baseConfig()));
    auto gate = std::make_shared<Gate>();
    primary_.enqueue(Reply::gatedSse(chunks("tok", 2), gate, GetParam()));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(primary_.waitForRequests(1));

    std::vector<std::string> received;
    for (int i = 0; i < 2; ++i) {
        gate->release();
        auto event = client.nextEvent();
        ASSERT_TRUE(event) << client.error();
        received.push_back(event->data);
    }
    // Only now does the upstream drop, after the client has seen both events.
    gate->release();
    EXPECT_FALSE(client.nextEvent());

    EXPECT_EQ(received, chunks("tok", 2));
    EXPECT_EQ(client.state(), State::Broken) << "the stream must not end cleanly";
    EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "primary");
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

INSTANTIATE_TEST_SUITE_P(ResetOrClose, BrokenStreamTest,
                         ::testing::Values(StreamEnd::Reset, StreamEnd::Close),
                         [](const auto& instance) {
                             return instance.param == StreamEnd::Reset ? "Reset" : "Close";
                         });

TEST_F(StreamingTest, ClientDisconnectClosesTheUpstreamStream) {
    ASSERT_TRUE(startGateway(baseConfig()));
    // A slow, long stream: at most 5 s if nobody cancels it.
    primary_.enqueue(Reply{.kind = Reply::Kind::Stream,
                           .events = chunks("tick", 250),
                           .interval = std::chrono::milliseconds(20)});
    {
        StreamingClient client{daemon_.port()};
        ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
        ASSERT_TRUE(client.nextEvent()) << client.error();
        client.close();
    }

    EXPECT_TRUE(primary_.waitForStreamCancelled());
    EXPECT_EQ(primary_.requestCount(), 1U);

    Response after = post();  // the gateway is still serving
    EXPECT_EQ(after.status, 200) << after.error;
}

}  // namespace
}  // namespace aiproxy::test
