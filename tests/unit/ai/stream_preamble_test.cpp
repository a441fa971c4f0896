#include "aiproxy/ai/stream_preamble.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aiproxy::ai {
namespace {

TEST(StreamPreambleTest, OpenAiRoleChunksAndCommentsAreHeld) {
    EXPECT_TRUE(onlyStreamPreamble(""));
    EXPECT_TRUE(onlyStreamPreamble(": ping\n\n"));
    EXPECT_TRUE(onlyStreamPreamble(
        R"(data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
        R"("finish_reason":null}]})"
        "\n\n"));
    EXPECT_TRUE(
        onlyStreamPreamble(R"(data: {"choices":[{"delta":{"role":"assistant","content":null}}]})"
                           "\n\n"));
}

TEST(StreamPreambleTest, TheFirstContentEndsTheHold) {
    const char* role = R"(data: {"choices":[{"delta":{"role":"assistant"}}]})"
                       "\n\n";
    EXPECT_FALSE(onlyStreamPreamble(std::string(role) +
                                    R"(data: {"choices":[{"delta":{"content":"Hi"}}]})"
                                    "\n\n"));
    EXPECT_FALSE(onlyStreamPreamble(R"(data: {"choices":[{"delta":{"tool_calls":[{"index":0}]}}]})"
                                    "\n\n"));
    EXPECT_FALSE(onlyStreamPreamble(R"(data: {"choices":[{"delta":{},"finish_reason":"stop"}]})"
                                    "\n\n"));
    EXPECT_FALSE(onlyStreamPreamble("data: [DONE]\n\n"));
    EXPECT_FALSE(onlyStreamPreamble(R"(data: {"error":{"message":"overloaded"}})"
                                    "\n\n"));
}

TEST(StreamPreambleTest, AnthropicAndResponsesOpeningsAreHeld) {
    EXPECT_TRUE(
        onlyStreamPreamble("event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
                           "event: ping\ndata: {\"type\": \"ping\"}\n\n"
                           "event: content_block_start\ndata: {\"type\":"
                           "\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                           "\"text\",\"text\":\"\"}}\n\n"));
    EXPECT_FALSE(
        onlyStreamPreamble("event: content_block_delta\ndata: {\"type\":"
                           "\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
                           "\"text\":\"Hi\"}}\n\n"));
    EXPECT_FALSE(
        onlyStreamPreamble("event: content_block_start\ndata: {\"type\":"
                           "\"content_block_start\",\"content_block\":{\"type\":"
                           "\"tool_use\"}}\n\n"));
    EXPECT_TRUE(
        onlyStreamPreamble("event: response.created\ndata: {\"type\":\"response.created\"}"
                           "\n\nevent: response.in_progress\ndata: {}\n\n"));
}

TEST(StreamPreambleTest, AnEventStillArrivingWaits) {
    EXPECT_TRUE(onlyStreamPreamble(R"(data: {"choices":[{"delta":{"content":"Hi)"));
}

TEST(StreamPreambleTest, AResumedCheckLooksOnlyAtNewEventsAndAgreesWithAFullOne) {
    std::string held = R"(data: {"choices":[{"delta":{"role":"assistant","content":""}}]})"
                       "\n\n";
    std::size_t verified = 0;
    EXPECT_TRUE(onlyStreamPreamble(held, verified));
    EXPECT_EQ(verified, held.size());
    held += ": ping\n\ndata: {\"choices\":[{\"delta\":{\"con";  // the next event, half here
    EXPECT_TRUE(onlyStreamPreamble(held, verified));
    EXPECT_EQ(verified, held.find("data: {\"choices\":[{\"delta\":{\"con"));
    held += "tent\":\"Hi\"}}]}\n\n";
    EXPECT_FALSE(onlyStreamPreamble(held, verified));
    EXPECT_FALSE(onlyStreamPreamble(held));
}

TEST(StreamPreambleTest, NonEmptyContentIsContentWhateverElseTheChunkHolds) {
    EXPECT_FALSE(onlyStreamPreamble(
        R"(data: {"choices":[{"delta":{"role":"assistant","content":"\"quoted\""}}]})"
        "\n\n"));
    // Spaced JSON takes the full check, with the same answer.
    EXPECT_FALSE(onlyStreamPreamble(R"(data: {"choices": [{"delta": {"content": "Hi"}}]})"
                                    "\n\n"));
    EXPECT_TRUE(onlyStreamPreamble(R"(data: {"choices": [{"delta": {"content": ""}}]})"
                                   "\n\n"));
}

}  // namespace
}  // namespace aiproxy::ai
