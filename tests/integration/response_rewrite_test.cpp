// ai-response-rewrite through the real binary: the assistant's text redacted and framed in plain
// answers (with the right Content-Length) and in streams (a secret split across two upstream
// chunks, held text flushed when the upstream pauses), for OpenAI and Anthropic clients, with
// the usage still the upstream's and every redaction counted.

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/backend_config.hpp"
#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"
#include "support/llm_replies.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;
using State = StreamingClient::State;

constexpr const char* kRedactions = R"(aiproxy_response_redactions_total{route="rw"})";

// An API key split over two chunks in the tests below: "sk-ab" + "cd1234".
constexpr const char* kKeyRule = R"(        redact:
          - {pattern: "sk-[a-z0-9]{8}", replace: "[KEY]"}
)";

std::string chunk(const Json& delta, const Json& finish_reason = nullptr) {
    return Json{{"id", "chatcmpl-7"},
                {"object", "chat.completion.chunk"},
                {"created", 1700000000},
                {"model", "gpt-4o-mini"},
                {"choices",
                 Json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}}
        .dump();
}

std::string textChunk(const std::string& text) {
    return chunk({{"content", text}});
}

std::string usageChunk(int prompt, int completion) {
    return Json{{"id", "chatcmpl-7"},
                {"object", "chat.completion.chunk"},
                {"choices", Json::array()},
                {"usage",
                 {{"prompt_tokens", prompt},
                  {"completion_tokens", completion},
                  {"total_tokens", prompt + completion}}}}
        .dump();
}

// An OpenAI stream whose text "my key is sk-abcd1234, ok" has the key cut between two chunks;
// 5 prompt and 7 completion tokens.
std::vector<std::string> streamWithSplitKey() {
    return {chunk({{"role", "assistant"}, {"content", ""}}),
            textChunk("my key is sk-ab"),
            textChunk("cd1234, ok"),
            chunk(Json::object(), "stop"),
            usageChunk(5, 7),
            "[DONE]"};
}

// The text of an OpenAI stream's deltas; [DONE] must come last.
struct ChatStream {
    std::string text;
    bool done = false;
    int chunks = 0;
};

ChatStream readChatStream(StreamingClient& client) {
    ChatStream out;
    while (auto event = client.nextEvent()) {
        if (event->data.empty()) continue;
        EXPECT_FALSE(out.done) << "an event after [DONE]: " << event->data;
        if (event->data == "[DONE]") {
            out.done = true;
            continue;
        }
        Json data = Json::parse(event->data, nullptr, false);
        EXPECT_FALSE(data.is_discarded()) << event->data;
        ++out.chunks;
        for (const auto& choice : data.value("choices", Json::array())) {
            const Json& delta = choice.value("delta", Json::object());
            if (delta.contains("content") && delta["content"].is_string()) {
                out.text += delta["content"].get<std::string>();
            }
        }
    }
    return out;
}

// The content of one OpenAI chunk's first choice ("" for none).
std::string contentOf(const SseEvent& event) {
    Json data = Json::parse(event.data, nullptr, false);
    if (!data.is_object() || data.value("choices", Json::array()).empty()) return {};
    return data["choices"][0]["delta"].value("content", "");
}

Request anthropicRequest(bool stream) {
    return {.method = "POST",
            .target = "/llm/v1/messages",
            .headers = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}},
            .body = std::string(R"({"model":"gpt-4o-mini","max_tokens":64,)") +
                    (stream ? R"("stream":true,)" : "") +
                    R"("messages":[{"role":"user","content":"Hi"}]})"};
}

class ResponseRewriteTest : public DaemonFixture {
protected:
    // One route "rw" on /llm/* over the backend with ai-response-rewrite set to `plugin` (YAML
    // lines 8 spaces in).
    ::testing::AssertionResult start(const std::string& plugin) {
        BackendConfig config{
            .backend = backend_.address(),
            .admin_key = "rewrite-admin-key-0123",
            .routes = backendRoute("rw", "/llm/*", "      ai-response-rewrite:\n" + plugin)};
        return startWithStatusAndAdmin(config.yaml());
    }

    // Metrics are recorded when the request ends, just before its access-log line is written:
    // the line's presence means the counters moved.
    void awaitLogged(const std::string& request_id) {
        ASSERT_TRUE(daemon_.waitForStderr("\"request_id\":\"" + request_id + "\""))
            << "no access-log line for " << request_id;
    }
};

// `request` with an X-Request-Id, so its access-log line can be awaited.
Request withId(Request request, const std::string& id) {
    request.headers.add("X-Request-Id", id);
    return request;
}

TEST_F(ResponseRewriteTest, JsonAnswerIsRedactedAndFramedWithItsNewLength) {
    ASSERT_TRUE(start(std::string(kKeyRule) + "        prepend_text: \"Note: \"\n"
                                              "        append_text: \" [AI]\"\n"));
    backend_.enqueue(Reply::json(200, openAiCompletion("my key is sk-abcd1234, ok", 5, 7)));

    Response response = sendRequest(daemon_.port(), withId(chatRequest(), "json"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("Content-Length"), std::to_string(response.body.size()));
    Json answer = Json::parse(response.body, nullptr, false);
    ASSERT_FALSE(answer.is_discarded()) << response.body;
    EXPECT_EQ(answer["choices"][0]["message"]["content"], "Note: my key is [KEY], ok [AI]");
    EXPECT_EQ(answer["usage"]["prompt_tokens"], 5);  // the upstream's numbers, as they were
    EXPECT_EQ(answer["usage"]["completion_tokens"], 7);
    awaitLogged("json");
    EXPECT_EQ(metric(kRedactions), 1);
}

TEST_F(ResponseRewriteTest, SecretSplitAcrossTwoStreamedChunksIsReplaced) {
    // A long pause bound: on a loaded machine the gap between two chunks must not flush.
    ASSERT_TRUE(start(std::string(kKeyRule) + "        prepend_text: \"Note: \"\n"
                                              "        append_text: \" [AI]\"\n"
                                              "        max_holdback_ms: 10000\n"));
    backend_.enqueue(Reply::sse(streamWithSplitKey()));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(withId(chatRequest("/llm/chat/completions", true), "split")));
    ChatStream stream = readChatStream(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.text, "Note: my key is [KEY], ok [AI]") << client.body();
    EXPECT_TRUE(stream.done) << client.body();
    EXPECT_EQ(client.body().find("sk-ab"), std::string::npos) << client.body();
    // The gateway asked for usage; the client did not, so it still does not see that chunk.
    EXPECT_EQ(client.body().find("\"usage\":{"), std::string::npos) << client.body();
    awaitLogged("split");
    EXPECT_EQ(metric(kRedactions), 1);
}

TEST_F(ResponseRewriteTest, APauseLongerThanTheHoldbackFlushesHeldTextBeforeTheNextChunk) {
    ASSERT_TRUE(
        start("        redact:\n"
              "          - {pattern: \"\\\\d+\", replace: \"#\"}\n"
              "        max_holdback_ms: 20\n"));
    auto gate = std::make_shared<Gate>();
    // "12" may go on with more digits: held until the upstream pauses.
    backend_.enqueue(Reply::gatedSse(
        {textChunk("the code is 12"), textChunk("34 ok"), chunk(Json::object(), "stop"), "[DONE]"},
        gate));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(withId(chatRequest("/llm/chat/completions", true), "pause")));
    ASSERT_TRUE(backend_.waitForRequests(1));

    gate->release();
    auto first = client.nextEvent();
    ASSERT_TRUE(first) << client.error();
    EXPECT_EQ(contentOf(*first), "the code is ");
    // The upstream says nothing more until the client has the held text.
    auto flushed = client.nextEvent();
    ASSERT_TRUE(flushed) << client.error();
    EXPECT_EQ(contentOf(*flushed), "#");
    gate->releaseAll();
    ChatStream rest = readChatStream(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(rest.text, "# ok");
    EXPECT_TRUE(rest.done);
    awaitLogged("pause");
    EXPECT_EQ(metric(kRedactions), 2);
}

TEST_F(ResponseRewriteTest, APauseFlushesHeldTextEvenBeforeTheFirstByteWentOut) {
    ASSERT_TRUE(
        start("        redact:\n"
              "          - {pattern: \"\\\\d+\", replace: \"#\"}\n"
              "        max_holdback_ms: 20\n"));
    auto gate = std::make_shared<Gate>();
    // All the first chunk's text is held: nothing goes out until the pause.
    backend_.enqueue(Reply::gatedSse({chunk({{"role", "assistant"}, {"content", ""}}),
                                      textChunk("42"), textChunk(" done"), "[DONE]"},
                                     gate));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(backend_.waitForRequests(1));

    gate->release(2);
    std::string received;
    while (received.empty()) {
        auto event = client.nextEvent();
        ASSERT_TRUE(event) << client.error();
        received = contentOf(*event);
    }
    EXPECT_EQ(received, "#");
    gate->releaseAll();
    EXPECT_EQ(readChatStream(client).text, " done");
    EXPECT_EQ(client.state(), State::Complete) << client.error();
}

TEST_F(ResponseRewriteTest, AnthropicClientGetsItsStreamRewrittenAfterTranslation) {
    ASSERT_TRUE(start(std::string(kKeyRule) + "        prepend_text: \"Note: \"\n"
                                              "        append_text: \" [AI]\"\n"
                                              "        max_holdback_ms: 10000\n"));
    backend_.enqueue(Reply::sse(streamWithSplitKey()));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(withId(anthropicRequest(true), "anthropic-stream")));
    std::vector<std::string> types;
    std::string text;
    std::optional<Json> usage;
    while (auto event = client.nextEvent()) {
        Json data = Json::parse(event->data, nullptr, false);
        ASSERT_FALSE(data.is_discarded()) << event->data;
        types.push_back(data.value("type", ""));
        if (types.back() == "content_block_delta") text += data["delta"].value("text", "");
        if (types.back() == "message_delta") usage = data["usage"];
    }

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(text, "Note: my key is [KEY], ok [AI]") << client.body();
    ASSERT_FALSE(types.empty());
    EXPECT_EQ(types.front(), "message_start");
    EXPECT_EQ(types.back(), "message_stop");
    ASSERT_TRUE(usage) << client.body();
    EXPECT_EQ((*usage)["output_tokens"], 7);
    awaitLogged("anthropic-stream");
    EXPECT_EQ(metric(kRedactions), 1);
}

TEST_F(ResponseRewriteTest, AnthropicClientGetsItsJsonAnswerRewrittenAfterTranslation) {
    ASSERT_TRUE(start(std::string(kKeyRule) + "        append_text: \" [AI]\"\n"));
    backend_.enqueue(Reply::json(200, openAiCompletion("key sk-abcd1234", 5, 7)));

    Response response =
        sendRequest(daemon_.port(), withId(anthropicRequest(false), "anthropic-json"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("Content-Length"), std::to_string(response.body.size()));
    Json answer = Json::parse(response.body, nullptr, false);
    ASSERT_FALSE(answer.is_discarded()) << response.body;
    EXPECT_EQ(answer["type"], "message");
    EXPECT_EQ(answer["content"][0]["text"], "key [KEY] [AI]");
    EXPECT_EQ(answer["usage"]["output_tokens"], 7);
    awaitLogged("anthropic-json");
    EXPECT_EQ(metric(kRedactions), 1);
}

TEST_F(ResponseRewriteTest, ErrorAnswersAndOtherEndpointsPassAsTheyCame) {
    ASSERT_TRUE(start(std::string(kKeyRule)));
    const std::string error = R"({"error":{"message":"bad sk-abcd1234","type":"x"}})";
    backend_.enqueue(Reply::json(400, error));
    const std::string embeddings = R"({"data":[],"note":"sk-abcd1234"})";
    backend_.enqueue(Reply::json(200, embeddings));

    Response refused = sendRequest(daemon_.port(), chatRequest());
    Request other = chatRequest("/llm/embeddings");
    Response passed = sendRequest(daemon_.port(), withId(other, "other"));

    EXPECT_EQ(refused.status, 400);
    EXPECT_EQ(refused.body, error);
    EXPECT_EQ(passed.status, 200);
    EXPECT_EQ(passed.body, embeddings);
    awaitLogged("other");
    EXPECT_EQ(metric(kRedactions), 0);
}

}  // namespace
}  // namespace aiproxy::test
