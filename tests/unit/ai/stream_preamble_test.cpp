#include "aiproxy/ai/stream_preamble.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// The Responses API opens its answer with an empty message item and an empty output_text part;
// the first output_text.delta (or a function call item, which names its tool) is content.
TEST(StreamPreambleTest, ResponsesApiEmptyOpeningsAreHeldUntilTheFirstDelta) {
    const std::string opening =
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
        "\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n"
        "event: response.in_progress\ndata: {\"type\":\"response.in_progress\","
        "\"sequence_number\":1}\n\n"
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
        "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":"
        "\"in_progress\",\"role\":\"assistant\",\"content\":[]},\"sequence_number\":2}\n\n"
        "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\","
        "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":"
        "\"output_text\",\"text\":\"\",\"annotations\":[]},\"sequence_number\":3}\n\n";
    EXPECT_TRUE(onlyStreamPreamble(opening));
    EXPECT_TRUE(onlyStreamPreamble(
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
        "\"item\":{\"type\":\"reasoning\",\"summary\":[]}}\n\n"));
    EXPECT_FALSE(onlyStreamPreamble(
        opening +
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n"));
    EXPECT_FALSE(onlyStreamPreamble(
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
        "\"item\":{\"type\":\"function_call\",\"name\":\"get_weather\",\"arguments\":\"\"}}\n\n"));
    // Servers that leave data.type out are read by the event's name.
    EXPECT_TRUE(onlyStreamPreamble(
        "event: response.content_part.added\ndata: {\"part\":{\"type\":\"output_text\","
        "\"text\":\"\"}}\n\n"));
}

TEST(StreamPreambleTest, ResponsesApiErrorsBeforeContentFailTheAttempt) {
    const std::string created =
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n";
    std::size_t verified = 0;
    std::string message;
    EXPECT_EQ(
        classifyStreamStart(created + "event: error\ndata: {\"type\":\"error\",\"code\":"
                                      "\"server_error\",\"message\":\"overloaded\",\"param\":null,"
                                      "\"sequence_number\":1}\n\n",
                            verified, &message),
        StreamStart::UpstreamError);
    EXPECT_EQ(message, "overloaded");
    verified = 0;
    message.clear();
    EXPECT_EQ(
        classifyStreamStart(created + "event: response.failed\ndata: {\"type\":\"response.failed\","
                                      "\"response\":{\"status\":\"failed\",\"error\":{\"code\":"
                                      "\"server_error\",\"message\":\"boom\"}}}\n\n",
                            verified, &message),
        StreamStart::UpstreamError);
    EXPECT_EQ(message, "boom");
    // A prompt every node would refuse is relayed, not retried.
    verified = 0;
    EXPECT_EQ(
        classifyStreamStart(created + "event: response.failed\ndata: {\"type\":\"response.failed\","
                                      "\"response\":{\"error\":{\"code\":\"invalid_prompt\","
                                      "\"message\":\"no\"}}}\n\n",
                            verified),
        StreamStart::Content);
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

// The role-only chunk in compact JSON is read by a scan, not a parse; the scan must answer as
// the parse does. Each chunk runs twice: as it is, and with an escaped string member added in
// front, which changes nothing but sends it down the parse.
TEST(StreamPreambleTest, AScannedChunkIsClassifiedAsAParsedOneIs) {
    const std::vector<std::string> chunks = {
        R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})",
        R"({"choices":[{"delta":{"role":"assistant","content":null,"refusal":null}}]})",
        R"({"choices":[{"delta":{"reasoning_content":""},"logprobs":null}]})",
        R"({"choices":[{"delta":{"reasoning_content":"thinking"}}]})",
        R"({"choices":[{"delta":{"refusal":"no"}}]})",
        R"({"choices":[{"delta":{"content":[]}}]})",
        R"({"choices":[{"delta":{"role":"assistant"},"finish_reason":"stop"}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":""}}]}}]})",
        R"({"choices":[{"delta":{"role":"a}s]s{i[stant"}},{"delta":{"content":""}}]})",
        R"({"choices":[{"delta":{"role":"assistant"}},{"delta":{"content":"x"}}]})",
        R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}})",
        R"({"choices":{"delta":{}}})",
        R"({"choices":[7]})",
        R"({"choices":[{"index":0}]})",
        R"({"choices":[{"delta":"role"}]})",
        R"({"choices":[{"delta":{}}]})",
        R"({"choices":[ { "delta" : { "role" : "assistant" , "content" : "" } } ] })",
        R"({"object":"chat.completion.chunk"})",
        R"({"error":{"message":"overloaded","type":"server_error"}})",
        R"({"type":"message_start","message":{}})",
    };
    for (const auto& chunk : chunks) {
        std::string scanned = "data: " + chunk + "\n\n";
        std::string parsed = "data: {\"x\":\"\\u0041\"," + chunk.substr(1) + "\n\n";
        EXPECT_EQ(onlyStreamPreamble(scanned), onlyStreamPreamble(parsed)) << chunk;
    }
    EXPECT_TRUE(onlyStreamPreamble("data: " + chunks[0] + "\n\n"));
    EXPECT_FALSE(onlyStreamPreamble("data: " + chunks[3] + "\n\n"));
    EXPECT_TRUE(onlyStreamPreamble("data: " + chunks[8] + "\n\n"));
    EXPECT_FALSE(onlyStreamPreamble("data: " + chunks[9] + "\n\n"));
}

}  // namespace
}  // namespace aiproxy::ai
