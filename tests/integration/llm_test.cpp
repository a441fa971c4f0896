// LLM awareness through the real binary: OpenAI <-> Anthropic translation (plain, streamed,
// as a fallback), the usage-only chunk, upstream credentials replacing the client's, options and
// model_map, secrets kept out of logs and admin answers, and tokens and cost in the metrics and
// the access log.

#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/gateway_test.hpp"
#include "support/llm_replies.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;
using State = StreamingClient::State;
using LabelSet = std::map<std::string, std::string>;

constexpr const char* kChat = "/llm/chat/completions";
constexpr const char* kClientKey = "Bearer sk-client";

// ---- Anthropic Messages wire format (docs.anthropic.com, "Messages" and "Streaming") ----------

std::string anthropicMessage(const std::string& text, int input_tokens, int output_tokens,
                             const std::string& model = "claude-test-20250101") {
    return Json{{"id", "msg_01"},
                {"type", "message"},
                {"role", "assistant"},
                {"model", model},
                {"content", Json::array({{{"type", "text"}, {"text", text}}})},
                {"stop_reason", "end_turn"},
                {"stop_sequence", nullptr},
                {"usage", {{"input_tokens", input_tokens}, {"output_tokens", output_tokens}}}}
        .dump();
}

// The data of each event of a streamed message whose text is `words` concatenated.
std::vector<std::string> anthropicStreamData(const std::vector<std::string>& words,
                                             int input_tokens, int output_tokens,
                                             const std::string& model = "claude-test-20250101") {
    std::vector<std::string> out;
    out.push_back(Json{{"type", "message_start"},
                       {"message",
                        {{"id", "msg_02"},
                         {"type", "message"},
                         {"role", "assistant"},
                         {"model", model},
                         {"content", Json::array()},
                         {"stop_reason", nullptr},
                         {"stop_sequence", nullptr},
                         {"usage", {{"input_tokens", input_tokens}, {"output_tokens", 1}}}}}}
                      .dump());
    out.push_back(R"({"type":"content_block_start","index":0,)"
                  R"("content_block":{"type":"text","text":""}})");
    out.push_back(R"({"type": "ping"})");
    for (const auto& word : words) {
        out.push_back(Json{{"type", "content_block_delta"},
                           {"index", 0},
                           {"delta", {{"type", "text_delta"}, {"text", word}}}}
                          .dump());
    }
    out.push_back(R"({"type":"content_block_stop","index":0})");
    out.push_back(Json{{"type", "message_delta"},
                       {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                       {"usage", {{"output_tokens", output_tokens}}}}
                      .dump());
    out.push_back(R"({"type":"message_stop"})");
    return out;
}

// The name of an Anthropic event is its data's "type".
std::string eventName(const std::string& data) {
    return Json::parse(data).value("type", "");
}

// A whole Anthropic SSE body with `event:` lines, as the API sends it.
std::string anthropicSseBody(const std::vector<std::string>& data) {
    std::string body;
    for (const auto& event : data)
        body += "event: " + eventName(event) + "\ndata: " + event + "\n\n";
    return body;
}

// One event per TCP chunk, each with its event: line. Reply::sse writes "data: <x>\n\n", so each
// named event rides behind an extra ping (Anthropic may send pings anywhere).
std::vector<std::string> namedEventsBehindPings(const std::vector<std::string>& data) {
    std::vector<std::string> out;
    for (const auto& event : data)
        out.push_back(R"({"type":"ping"})"
                      "\n\nevent: " +
                      eventName(event) + "\ndata: " + event);
    return out;
}

Reply anthropicSseReply(const std::vector<std::string>& data) {
    return Reply{.kind = Reply::Kind::Respond,
                 .headers = {{"Content-Type", "text/event-stream"}},
                 .body = anthropicSseBody(data)};
}

// ---- OpenAI wire format ------------------------------------------------------------------------

std::string openAiChunk(const Json& delta, const Json& finish_reason = nullptr,
                        const std::string& model = "gpt-4o-mini-2024-07-18") {
    return Json{{"id", "chatcmpl-2"},
                {"object", "chat.completion.chunk"},
                {"created", 1700000000},
                {"model", model},
                {"choices",
                 Json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}}
        .dump();
}

std::string openAiUsageChunk(int prompt, int completion,
                             const std::string& model = "gpt-4o-mini-2024-07-18") {
    return Json{{"id", "chatcmpl-2"},
                {"object", "chat.completion.chunk"},
                {"created", 1700000000},
                {"model", model},
                {"choices", Json::array()},
                {"usage",
                 {{"prompt_tokens", prompt},
                  {"completion_tokens", completion},
                  {"total_tokens", prompt + completion}}}}
        .dump();
}

// Role, two words, finish, the usage-only chunk, [DONE].
std::vector<std::string> openAiStreamWithUsage(int prompt, int completion) {
    return {openAiChunk({{"role", "assistant"}, {"content", ""}}),
            openAiChunk({{"content", "Hello"}}),
            openAiChunk({{"content", " there"}}),
            openAiChunk(Json::object(), "stop"),
            openAiUsageChunk(prompt, completion),
            "[DONE]"};
}

// ---- Reading what came back
// ----------------------------------------------------------------------

struct ChunkStream {
    std::vector<Json> chunks;
    std::string text;
    std::optional<std::string> finish_reason;
    std::optional<Json> usage;
    bool done = false;             // "data: [DONE]" arrived
    bool after_done = false;       // something arrived after it
    std::vector<std::string> bad;  // events that are not valid chunk JSON
};

ChunkStream readChunks(StreamingClient& client) {
    ChunkStream out;
    while (auto event = client.nextEvent()) {
        if (event->data.empty()) continue;  // a comment-only block (": ping") is no event
        if (out.done) out.after_done = true;
        if (event->data == "[DONE]") {
            out.done = true;
            continue;
        }
        Json chunk = Json::parse(event->data, nullptr, false);
        if (chunk.is_discarded() || chunk.value("object", "") != "chat.completion.chunk") {
            out.bad.push_back(event->data);
            continue;
        }
        if (chunk.contains("usage") && chunk["usage"].is_object()) out.usage = chunk["usage"];
        for (const auto& choice : chunk.value("choices", Json::array())) {
            const Json& delta = choice.value("delta", Json::object());
            if (delta.contains("content") && delta["content"].is_string())
                out.text += delta["content"].get<std::string>();
            if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
                out.finish_reason = choice["finish_reason"].get<std::string>();
        }
        out.chunks.push_back(std::move(chunk));
    }
    return out;
}

// One Prometheus sample line: name{a="x",b="y"} value. Good enough for our own label values.
struct Sample {
    std::string name;
    LabelSet labels;
    double value = 0;
};

std::vector<Sample> parseSamples(const std::string& text) {
    std::vector<Sample> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        Sample sample;
        auto brace = line.find('{');
        auto space = line.rfind(' ');
        if (space == std::string::npos) continue;
        if (brace != std::string::npos && brace < space) {
            sample.name = line.substr(0, brace);
            auto close = line.rfind('}');
            std::string labels = line.substr(brace + 1, close - brace - 1);
            std::size_t at = 0;
            while (at < labels.size()) {
                auto eq = labels.find("=\"", at);
                auto end = labels.find('"', eq + 2);
                sample.labels[labels.substr(at, eq - at)] = labels.substr(eq + 2, end - eq - 2);
                at = end + 2;  // past '"' and ','
            }
        } else {
            sample.name = line.substr(0, space);
        }
        sample.value = std::strtod(line.c_str() + space + 1, nullptr);
        out.push_back(std::move(sample));
    }
    return out;
}

std::optional<double> sampleValue(const std::vector<Sample>& samples, const std::string& name,
                                  const LabelSet& labels) {
    for (const auto& sample : samples) {
        if (sample.name == name && sample.labels == labels) return sample.value;
    }
    return std::nullopt;
}

std::vector<Sample> family(const std::vector<Sample>& samples, const std::string& name) {
    std::vector<Sample> out;
    for (const auto& sample : samples) {
        if (sample.name == name) out.push_back(sample);
    }
    return out;
}

// ---- The fixture -------------------------------------------------------------------------------

class LlmTest : public GatewayTest {
protected:
    // Starts the gateway on `config` plus `extra` top-level YAML (e.g. a pricing: section), with
    // the log level `level`, and reads the status port.
    ::testing::AssertionResult start(const GatewayConfig& config, const std::string& extra = "",
                                     const std::string& level = "info") {
        std::string yaml = config.yaml() + extra;
        const std::string log = "log:\n  level: info\n";
        auto at = yaml.find(log);
        if (at == std::string::npos) return ::testing::AssertionFailure() << "no log: section";
        yaml.replace(at, log.size(), "log:\n  level: " + level + "\n");
        if (!daemon_.start(yaml)) {
            return ::testing::AssertionFailure() << "aiproxyd did not start:\n"
                                                 << daemon_.stderrText() << "\n"
                                                 << yaml;
        }
        if (!daemon_.waitForStderr("(/metrics /healthz /readyz)")) {
            return ::testing::AssertionFailure() << "no status endpoint line";
        }
        const std::string marker = "status endpoint on ";
        std::string text = daemon_.stderrText();
        auto from = text.find(marker) + marker.size();
        auto address = text.substr(from, text.find(' ', from) - from);
        status_port_ = static_cast<uint16_t>(std::atoi(address.c_str() + address.rfind(':') + 1));
        return ::testing::AssertionSuccess();
    }

    // A chat completion from an OpenAI client with its own key and a request id.
    Request chat(const std::string& request_id, bool stream = false,
                 const std::string& extra = "") {
        Request request = chatRequest(kChat, stream);
        if (!extra.empty()) request.body.insert(request.body.size() - 1, "," + extra);
        request.headers.add("Authorization", kClientKey);
        request.headers.add("X-Request-Id", request_id);
        return request;
    }

    std::optional<Json> logLine(const std::string& request_id) {
        return accessLogLine(daemon_, request_id);
    }

    std::vector<Sample> scrape() {
        Response response = sendRequest(status_port_, {.method = "GET", .target = "/metrics"});
        EXPECT_EQ(response.status, 200) << response.error;
        return parseSamples(response.body);
    }

    uint16_t status_port_ = 0;
};

// An upstream of provider anthropic served by a plain-HTTP mock, with its own key.
std::vector<std::pair<std::string, std::string>> anthropicUpstream() {
    return {{"provider", "anthropic"},
            {"scheme", "http"},
            {"auth", "{header: {x-api-key: sk-ant-upstream}}"}};
}

// ---- 1. OpenAI client -> Anthropic upstream
// -------------------------------------------------------

TEST_F(LlmTest, OpenAiClientGetsAChatCompletionFromAnAnthropicUpstream) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::json(200, anthropicMessage("Hello from Claude", 12, 5)));

    Response response = sendRequest(daemon_.port(), chat("a-plain"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    Json body = Json::parse(response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << response.body;
    EXPECT_EQ(body.value("object", ""), "chat.completion") << body.dump();
    ASSERT_TRUE(body.contains("choices") && body["choices"].size() == 1U) << body.dump();
    EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(body["choices"][0]["message"]["content"], "Hello from Claude");
    EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(body["usage"]["prompt_tokens"], 12);
    EXPECT_EQ(body["usage"]["completion_tokens"], 5);
    EXPECT_EQ(body["usage"]["total_tokens"], 17);
    EXPECT_TRUE(response.headers.get("Content-Type").value_or("").starts_with("application/json"));
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "primary");

    ASSERT_EQ(primary_.requestCount(), 1U);
    RecordedRequest seen = primary_.requests()[0];
    EXPECT_EQ(seen.target, "/v1/messages");
    EXPECT_EQ(seen.headers.get("x-api-key"), "sk-ant-upstream");
    EXPECT_EQ(seen.headers.get("anthropic-version"), "2023-06-01");
    EXPECT_FALSE(seen.headers.has("Authorization")) << *seen.headers.get("Authorization");
    Json sent = Json::parse(seen.body, nullptr, false);
    ASSERT_FALSE(sent.is_discarded()) << seen.body;
    EXPECT_EQ(sent["model"], "gpt-4o-mini");
    EXPECT_TRUE(sent.contains("max_tokens")) << "Anthropic requires max_tokens: " << seen.body;
    EXPECT_EQ(sent["messages"], Json::parse(R"([{"role":"user","content":"Hello"}])")) << seen.body;

    auto line = logLine("a-plain");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 12);
    EXPECT_EQ((*line)["completion_tokens"], 5);
    EXPECT_EQ((*line)["request_model"], "gpt-4o-mini");
    EXPECT_EQ((*line)["served_model"], "claude-test-20250101");
}

// The stream as the API sends it: event: lines, several events per TCP read, one body.
TEST_F(LlmTest, OpenAiClientStreamsFromAnAnthropicUpstream) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(start(config));
    primary_.enqueue(anthropicSseReply(anthropicStreamData({"Hello", " from", " Claude"}, 20, 7)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("a-stream", true)));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ASSERT_EQ(client.status(), 200) << client.body();
    EXPECT_TRUE(client.headers().get("Content-Type").value_or("").starts_with("text/event-stream"));
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.bad, std::vector<std::string>{}) << client.body();
    EXPECT_TRUE(stream.done) << client.body();
    EXPECT_FALSE(stream.after_done) << client.body();
    EXPECT_EQ(stream.text, "Hello from Claude") << client.body();
    EXPECT_EQ(stream.finish_reason, "stop") << client.body();
    // The client did not ask for usage: no usage chunk.
    EXPECT_FALSE(stream.usage) << client.body();
    ASSERT_FALSE(stream.chunks.empty());
    EXPECT_EQ(stream.chunks[0]["choices"][0]["delta"]["role"], "assistant") << client.body();
    for (const auto& chunk : stream.chunks) {
        EXPECT_TRUE(chunk.contains("id") && chunk["id"].is_string()) << chunk.dump();
        EXPECT_TRUE(chunk.contains("model") && chunk["model"].is_string()) << chunk.dump();
        EXPECT_TRUE(chunk.contains("created") && chunk["created"].is_number()) << chunk.dump();
    }

    ASSERT_EQ(primary_.requestCount(), 1U);
    RecordedRequest seen = primary_.requests()[0];
    EXPECT_EQ(seen.target, "/v1/messages");
    EXPECT_EQ(seen.headers.get("x-api-key"), "sk-ant-upstream");
    EXPECT_EQ(seen.headers.get("anthropic-version"), "2023-06-01");
    EXPECT_FALSE(seen.headers.has("Authorization"));
    EXPECT_EQ(Json::parse(seen.body).value("stream", false), true) << seen.body;

    auto line = logLine("a-stream");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["stream"], "complete");
    EXPECT_EQ((*line)["prompt_tokens"], 20);
    EXPECT_EQ((*line)["completion_tokens"], 7);
}

// One event per TCP chunk, no event: lines (the data's "type" names the event), and a client
// that asked for usage gets it in a final chunk.
TEST_F(LlmTest, AnthropicStreamEventByEventWithUsageRequested) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::sse(anthropicStreamData({"One", " two"}, 9, 3)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(
        client.send(chat("a-stream-usage", true, R"("stream_options":{"include_usage":true})")));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ASSERT_EQ(client.status(), 200) << client.body();
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.bad, std::vector<std::string>{}) << client.body();
    EXPECT_TRUE(stream.done);
    EXPECT_EQ(stream.text, "One two");
    EXPECT_EQ(stream.finish_reason, "stop");
    ASSERT_TRUE(stream.usage) << client.body();
    EXPECT_EQ((*stream.usage)["prompt_tokens"], 9);
    EXPECT_EQ((*stream.usage)["completion_tokens"], 3);
    EXPECT_EQ((*stream.usage)["total_tokens"], 12);
    // The translator read the events by their data's "type"; accounting must too.
    auto line = logLine("a-stream-usage");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 9) << line->dump();
    EXPECT_EQ((*line)["completion_tokens"], 3) << line->dump();
    EXPECT_EQ((*line)["served_model"], "claude-test-20250101") << line->dump();
}

// An Anthropic error is answered in OpenAI's shape with the upstream's status.
TEST_F(LlmTest, AnthropicErrorReachesAnOpenAiClientInOpenAiShape) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    config.fallback.clear();
    config.retry = 0;
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::json(
        400,
        R"({"type":"error","error":{"type":"invalid_request_error","message":"bad max_tokens"}})"));

    Response response = sendRequest(daemon_.port(), chat("a-error"));

    EXPECT_EQ(response.status, 400) << response.error;
    Json body = Json::parse(response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << response.body;
    ASSERT_TRUE(body.contains("error") && body["error"].is_object()) << response.body;
    EXPECT_EQ(body["error"].value("message", ""), "bad max_tokens") << response.body;
    EXPECT_EQ(body["error"].value("type", ""), "invalid_request_error") << response.body;
}

// ---- 2. Fallback from OpenAI to Anthropic
// ---------------------------------------------------------

TEST_F(LlmTest, FallsBackFromAnOpenAiPrimaryAnswering500ToAnAnthropicFallback) {
    GatewayConfig config = baseConfig();
    config.fallback_settings = anthropicUpstream();
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::json(500, R"({"error":{"message":"boom","type":"server_error"}})"));
    fallback_.enqueue(Reply::json(200, anthropicMessage("Claude to the rescue", 4, 4)));

    Response response = sendRequest(daemon_.port(), chat("fb-plain"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "fallback");
    Json body = Json::parse(response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << response.body;
    EXPECT_EQ(body.value("object", ""), "chat.completion");
    EXPECT_EQ(body["choices"][0]["message"]["content"], "Claude to the rescue");
    EXPECT_EQ(primary_.requests().at(0).target, "/v1/chat/completions");
    // The primary had no auth of its own: it got the client's key; the fallback has its own.
    EXPECT_EQ(primary_.requests().at(0).headers.get("Authorization"), kClientKey);
    ASSERT_EQ(fallback_.requestCount(), 1U);
    RecordedRequest seen = fallback_.requests()[0];
    EXPECT_EQ(seen.target, "/v1/messages");
    EXPECT_EQ(seen.headers.get("x-api-key"), "sk-ant-upstream");
    EXPECT_FALSE(seen.headers.has("Authorization"));
}

TEST_F(LlmTest, StreamFallsBackFromAnOpenAiPrimaryToAnAnthropicFallback) {
    GatewayConfig config = baseConfig();
    config.fallback_settings = anthropicUpstream();
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::json(503, R"({"error":{"message":"busy","type":"server_error"}})"));
    fallback_.enqueue(anthropicSseReply(anthropicStreamData({"Fell", " back"}, 5, 2)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("fb-stream", true)));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ASSERT_EQ(client.status(), 200) << client.body();
    EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "fallback");
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.bad, std::vector<std::string>{}) << client.body();
    EXPECT_TRUE(stream.done) << client.body();
    EXPECT_EQ(stream.text, "Fell back");
    EXPECT_EQ(stream.finish_reason, "stop");
}

// ---- 3. Anthropic client -> OpenAI upstream
// -------------------------------------------------------

TEST_F(LlmTest, AnthropicClientIsAnsweredInAnthropicFormatByAnOpenAiUpstream) {
    ASSERT_TRUE(start(baseConfig()));
    primary_.enqueue(Reply::json(200, openAiCompletion("Hi from GPT", 8, 3)));
    Request request{.method = "POST",
                    .target = "/llm/v1/messages",
                    .headers = {{"Content-Type", "application/json"},
                                {"x-api-key", "sk-ant-client"},
                                {"anthropic-version", "2023-06-01"}},
                    .body = R"({"model":"gpt-4o-mini","max_tokens":64,"system":"Be brief.",)"
                            R"("messages":[{"role":"user","content":"Hi"}]})"};

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    Json body = Json::parse(response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << response.body;
    EXPECT_EQ(body.value("type", ""), "message") << body.dump();
    EXPECT_EQ(body.value("role", ""), "assistant");
    ASSERT_TRUE(body.contains("content") && body["content"].is_array() && !body["content"].empty())
        << body.dump();
    EXPECT_EQ(body["content"][0]["type"], "text");
    EXPECT_EQ(body["content"][0]["text"], "Hi from GPT");
    EXPECT_EQ(body["stop_reason"], "end_turn");
    EXPECT_EQ(body["usage"]["input_tokens"], 8);
    EXPECT_EQ(body["usage"]["output_tokens"], 3);

    ASSERT_EQ(primary_.requestCount(), 1U);
    RecordedRequest seen = primary_.requests()[0];
    EXPECT_EQ(seen.target, "/v1/chat/completions");
    EXPECT_FALSE(seen.headers.has("anthropic-version"));
    Json sent = Json::parse(seen.body, nullptr, false);
    ASSERT_FALSE(sent.is_discarded()) << seen.body;
    EXPECT_EQ(
        sent["messages"],
        Json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}])"))
        << seen.body;
    EXPECT_EQ(sent["max_tokens"], 64) << seen.body;
}

TEST_F(LlmTest, AnthropicClientStreamsFromAnOpenAiUpstream) {
    ASSERT_TRUE(start(baseConfig()));
    primary_.enqueue(Reply::sse(openAiStreamWithUsage(6, 2)));
    Request request{
        .method = "POST",
        .target = "/llm/v1/messages",
        .headers = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}},
        .body = R"({"model":"gpt-4o-mini","max_tokens":64,"stream":true,)"
                R"("messages":[{"role":"user","content":"Hi"}]})"};

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(request));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ASSERT_EQ(client.status(), 200) << client.body();
    std::vector<std::string> types;
    std::string text;
    std::optional<Json> final_usage;
    while (auto event = client.nextEvent()) {
        Json data = Json::parse(event->data, nullptr, false);
        ASSERT_FALSE(data.is_discarded()) << event->data;
        types.push_back(data.value("type", ""));
        if (types.back() == "content_block_delta") text += data["delta"].value("text", "");
        if (types.back() == "message_delta") final_usage = data["usage"];
    }

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    ASSERT_GE(types.size(), 5U) << client.body();
    EXPECT_EQ(types.front(), "message_start") << client.body();
    EXPECT_EQ(types.back(), "message_stop") << client.body();
    EXPECT_EQ(text, "Hello there") << client.body();
    ASSERT_TRUE(final_usage) << client.body();
    EXPECT_EQ((*final_usage)["output_tokens"], 2) << client.body();
    // Every event carries its name in an event: line, as Anthropic's SDKs expect.
    EXPECT_NE(client.body().find("event: message_start\n"), std::string::npos) << client.body();
    // The gateway asked the OpenAI upstream for usage.
    Json sent = Json::parse(primary_.requests().at(0).body);
    EXPECT_EQ(sent["stream_options"]["include_usage"], true) << sent.dump();
}

// ---- 4. The usage-only chunk
// ----------------------------------------------------------------------

TEST_F(LlmTest, UsageChunkIsRequestedAndHiddenWhenTheClientDidNotAskForIt) {
    ASSERT_TRUE(
        start(baseConfig(), "pricing:\n  gpt-4o-mini: {input_per_mtok: 1, output_per_mtok: 2}\n"));
    primary_.enqueue(Reply::sse(openAiStreamWithUsage(11, 2)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("u-hidden", true)));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.bad, std::vector<std::string>{}) << client.body();
    EXPECT_TRUE(stream.done);
    EXPECT_EQ(stream.text, "Hello there");
    EXPECT_FALSE(stream.usage) << client.body();
    EXPECT_EQ(stream.chunks.size(), 4U) << client.body();
    EXPECT_EQ(client.body().find("\"usage\""), std::string::npos) << client.body();
    Json sent = Json::parse(primary_.requests().at(0).body);
    EXPECT_EQ(sent["stream_options"]["include_usage"], true) << sent.dump();

    auto line = logLine("u-hidden");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 11);
    EXPECT_EQ((*line)["completion_tokens"], 2);
    EXPECT_EQ((*line)["bytes"], client.body().size());
    auto samples = scrape();
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total",
                          {{"route", "llm_route"},
                           {"upstream", "primary"},
                           {"model", "gpt-4o-mini"},
                           {"type", "prompt"}}),
              11);
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total",
                          {{"route", "llm_route"},
                           {"upstream", "primary"},
                           {"model", "gpt-4o-mini"},
                           {"type", "completion"}}),
              2);
}

TEST_F(LlmTest, UsageChunkReachesAClientThatAskedForIt) {
    ASSERT_TRUE(start(baseConfig()));
    primary_.enqueue(Reply::sse(openAiStreamWithUsage(11, 2)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("u-shown", true, R"("stream_options":{"include_usage":true})")));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.chunks.size(), 5U) << client.body();
    ASSERT_TRUE(stream.usage) << client.body();
    EXPECT_EQ((*stream.usage)["prompt_tokens"], 11);
    EXPECT_EQ((*stream.usage)["completion_tokens"], 2);
    EXPECT_TRUE(stream.chunks.back()["choices"].empty());
    // The client's own body is forwarded untouched.
    EXPECT_EQ(primary_.requests().at(0).body,
              chat("x", true, R"("stream_options":{"include_usage":true})").body);

    auto line = logLine("u-shown");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 11);
    EXPECT_EQ((*line)["completion_tokens"], 2);
}

// The client asked include_usage: false explicitly; the gateway still needs the usage.
TEST_F(LlmTest, UsageChunkHiddenWhenTheClientSaidIncludeUsageFalse) {
    ASSERT_TRUE(start(baseConfig()));
    primary_.enqueue(Reply::sse(openAiStreamWithUsage(3, 2)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("u-false", true, R"("stream_options":{"include_usage":false})")));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_FALSE(stream.usage) << client.body();
    Json sent = Json::parse(primary_.requests().at(0).body);
    EXPECT_EQ(sent["stream_options"]["include_usage"], true) << sent.dump();
    auto line = logLine("u-false");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 3);
}

// ---- 5. Upstream credentials --------------------------------------------------------------------

TEST_F(LlmTest, UpstreamAuthReplacesTheClientKeyAndAddsItsQuery) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {
        {"auth", "{header: {Authorization: \"Bearer sk-upstream\"}, query: {key: \"q v&1\"}}"}};
    ASSERT_TRUE(start(config));
    Request request = chat("auth-1");
    request.target += "?key=client&keep=1";
    request.headers.add("api-key", "client-azure-key");
    request.headers.add("x-api-key", "client-ant-key");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    ASSERT_EQ(primary_.requestCount(), 1U);
    RecordedRequest seen = primary_.requests()[0];
    EXPECT_EQ(seen.headers.get("Authorization"), "Bearer sk-upstream");
    int authorizations = 0;
    for (const auto& [name, value] : seen.headers.fields()) {
        if (equalsIgnoreCase(name, "authorization")) ++authorizations;
        EXPECT_EQ(value.find("sk-client"), std::string::npos) << name << ": " << value;
        EXPECT_EQ(value.find("client-azure-key"), std::string::npos) << name;
        EXPECT_EQ(value.find("client-ant-key"), std::string::npos) << name;
    }
    EXPECT_EQ(authorizations, 1);
    // The auth pair replaces the client's same-name one; the others are kept.
    EXPECT_EQ(seen.target, "/v1/chat/completions?keep=1&key=q%20v%261") << seen.target;
}

TEST_F(LlmTest, PassClientAuthForwardsTheClientKeyNextToTheUpstreamOne) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {{"auth", "{header: {X-Upstream-Key: up-123}}"},
                               {"pass_client_auth", "true"}};
    ASSERT_TRUE(start(config));

    Response response = sendRequest(daemon_.port(), chat("auth-pass"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    RecordedRequest seen = primary_.requests().at(0);
    EXPECT_EQ(seen.headers.get("Authorization"), kClientKey);
    EXPECT_EQ(seen.headers.get("X-Upstream-Key"), "up-123");
}

TEST_F(LlmTest, UpstreamAuthFromTheEnvironment) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {{"auth", "{header: {Authorization: \"Bearer ${LLMT_KEY}\"}}"}};
    daemon_.setEnvironment("LLMT_KEY", "sk-from-env");
    ASSERT_TRUE(start(config));

    Response response = sendRequest(daemon_.port(), chat("auth-env"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(primary_.requests().at(0).headers.get("Authorization"), "Bearer sk-from-env");
    EXPECT_EQ(daemon_.stderrText().find("sk-from-env"), std::string::npos) << daemon_.stderrText();
}

// ---- 6. options and model_map ------------------------------------------------------------------

TEST_F(LlmTest, ModelMapRenamesTheModelAndTheHeaderSaysSo) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {{"model_map", "{gpt-4o-mini: llama-3.1-70b-instruct}"}};
    ASSERT_TRUE(start(config));

    Response response = sendRequest(daemon_.port(), chat("map-1"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Model"), "llama-3.1-70b-instruct");
    Json sent = Json::parse(primary_.requests().at(0).body);
    EXPECT_EQ(sent["model"], "llama-3.1-70b-instruct");
    EXPECT_EQ(sent["messages"], Json::parse(R"([{"role":"user","content":"Hello"}])"));
    auto line = logLine("map-1");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["request_model"], "gpt-4o-mini");
}

TEST_F(LlmTest, OptionsOverwriteBodyFieldsAndWinOverModelMap) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {{"model_map", "{gpt-4o-mini: mapped-model}"},
                               {"options", "{model: forced-model, temperature: 0.25, user: null}"}};
    ASSERT_TRUE(start(config));
    Request request = chat("opt-1", false, R"("temperature":1.5,"user":"alice")");

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Model"), "forced-model");
    Json sent = Json::parse(primary_.requests().at(0).body);
    EXPECT_EQ(sent["model"], "forced-model") << sent.dump();
    EXPECT_EQ(sent["temperature"], 0.25) << sent.dump();
    EXPECT_FALSE(sent.contains("user")) << sent.dump();
}

TEST_F(LlmTest, ModelHeaderAbsentWhenHeadersAreNotExposed) {
    GatewayConfig config = baseConfig();
    config.expose_upstream_headers = false;
    config.primary_settings = {{"model_map", "{gpt-4o-mini: hidden-model}"}};
    ASSERT_TRUE(start(config));

    Response response = sendRequest(daemon_.port(), chat("map-hidden"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_FALSE(response.headers.has("X-AIProxy-Model"));
    EXPECT_EQ(Json::parse(primary_.requests().at(0).body)["model"], "hidden-model");
}

// Primary and fallback map the client's model differently; the header names the one that served.
TEST_F(LlmTest, ModelHeaderNamesTheFallbacksModel) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {{"model_map", "{gpt-4o-mini: primary-model}"}};
    config.fallback_settings = {{"model_map", "{gpt-4o-mini: local-model}"}};
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::json(502, R"({"error":{"message":"down"}})"));

    Response response = sendRequest(daemon_.port(), chat("map-fb"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "fallback");
    EXPECT_EQ(response.headers.get("X-AIProxy-Model"), "local-model");
    EXPECT_EQ(Json::parse(primary_.requests().at(0).body)["model"], "primary-model");
    EXPECT_EQ(Json::parse(fallback_.requests().at(0).body)["model"], "local-model");
}

// ---- 7. Secrets
// -----------------------------------------------------------------------------------

TEST_F(LlmTest, AdminUpstreamSecretIsMaskedAndNeverLogged) {
    constexpr const char* kKey = "edd1c9f034335f136f87ad84b625c8f1";
    constexpr const char* kSecret = "sk-secret-123";
    std::string yaml =
        "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 1\n  drain_timeout: 5\n"
        "status:\n  enabled: false\n"
        "admin:\n  listen: \"127.0.0.1:0\"\n  keys:\n    - {key: " +
        std::string(kKey) + ", role: admin}\nlog:\n  level: debug\n";
    ASSERT_TRUE(daemon_.start(yaml)) << daemon_.stderrText();
    ASSERT_TRUE(daemon_.waitForStderr("admin API on ")) << daemon_.stderrText();
    std::string text = daemon_.stderrText();
    const std::string marker = "admin API on ";
    auto at = text.find(marker) + marker.size();
    std::string address = text.substr(at, text.find(' ', at) - at);
    auto admin_port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    auto admin = [&](const std::string& method, const std::string& path,
                     const std::string& body = "") {
        Request request{.method = method, .target = "/apisix/admin/" + path, .body = body};
        request.headers.add("X-API-KEY", kKey);
        if (!body.empty()) request.headers.add("Content-Type", "application/json");
        return sendRequest(admin_port, request);
    };

    Response put = admin("PUT", "upstreams/x",
                         R"({"nodes":{")" + primary_.address() +
                             R"(":1},"scheme":"http","auth":{"header":{"Authorization":"Bearer )" +
                             kSecret + R"("},"query":{"key":")" + kSecret + R"("}}})");
    ASSERT_TRUE(put.status == 200 || put.status == 201) << put.status << " " << put.body;
    EXPECT_EQ(put.body.find(kSecret), std::string::npos) << put.body;
    Response route = admin("PUT", "routes/r",
                           R"({"uri":"/llm/*","plugins":{"ai-proxy":{"upstream_id":"x",)"
                           R"("timeout":5000,"retry":0}}})");
    ASSERT_TRUE(route.status == 200 || route.status == 201) << route.body;

    Response get = admin("GET", "upstreams/x");
    ASSERT_EQ(get.status, 200) << get.body;
    EXPECT_EQ(get.body.find(kSecret), std::string::npos) << get.body;
    Json got = Json::parse(get.body, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << get.body;
    EXPECT_EQ(got["value"]["auth"]["header"]["Authorization"], "***") << get.body;
    EXPECT_EQ(got["value"]["auth"]["query"]["key"], "***") << get.body;
    Response list = admin("GET", "upstreams");
    EXPECT_EQ(list.body.find(kSecret), std::string::npos) << list.body;

    // A success, an upstream error and an unreachable node: each logs, none leaks the secret.
    primary_.enqueue(Reply::json(200, openAiCompletion("ok", 1, 1)));
    primary_.enqueue(Reply::json(401, R"({"error":{"message":"bad key"}})"));
    primary_.enqueue(Reply::reset());
    for (const char* id : {"sec-1", "sec-2", "sec-3"}) {
        Response response = sendRequest(daemon_.port(), chat(id));
        EXPECT_TRUE(response.ok()) << response.error;
        EXPECT_EQ(response.body.find(kSecret), std::string::npos) << response.body;
        ASSERT_TRUE(logLine(id)) << daemon_.stderrText();
    }
    // A reset on a reused connection may be retried once on a fresh one: at least 3.
    ASSERT_GE(primary_.requestCount(), 3U);
    EXPECT_EQ(primary_.requests()[0].headers.get("Authorization"),
              std::string("Bearer ") + kSecret);
    EXPECT_EQ(primary_.requests()[0].target, std::string("/v1/chat/completions?key=") + kSecret);

    // A rejected write that names the field must not echo the value either.
    Response bad = admin("PUT", "upstreams/y",
                         R"({"nodes":{"127.0.0.1:1":1},"auth":{"header":{"Authorization":)"
                         R"(["Bearer sk-secret-123"]}}})");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(bad.body.find(kSecret), std::string::npos) << bad.body;

    EXPECT_EQ(daemon_.stderrText().find(kSecret), std::string::npos) << daemon_.stderrText();
    // Nor does the state file hold it in the clear? (It must, to survive a restart: not checked.)
}

// ---- 8. Metrics and the access log
// ----------------------------------------------------------------

TEST_F(LlmTest, TokensAndCostInMetricsMatchTheAccessLog) {
    GatewayConfig config = baseConfig();
    ASSERT_TRUE(start(config,
                      "pricing:\n"
                      "  gpt-4o-mini: {input_per_mtok: 0.15, output_per_mtok: 0.6}\n"
                      "  other-priced: {input_per_mtok: 100, output_per_mtok: 100}\n"));
    primary_.enqueue(Reply::json(200, openAiCompletion("plain", 1000, 200)));
    primary_.enqueue(Reply::sse(openAiStreamWithUsage(3000, 500)));

    Response plain = sendRequest(daemon_.port(), chat("m-plain"));
    ASSERT_EQ(plain.status, 200) << plain.error;
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("m-stream", true)));
    ASSERT_EQ(client.readToEnd(), State::Complete) << client.error();

    auto plain_line = logLine("m-plain");
    auto stream_line = logLine("m-stream");
    ASSERT_TRUE(plain_line && stream_line) << daemon_.stderrText();
    // 1000 * 0.15 + 200 * 0.6 = 270 micro-USD; 3000 * 0.15 + 500 * 0.6 = 750 micro-USD.
    EXPECT_EQ((*plain_line)["prompt_tokens"], 1000);
    EXPECT_EQ((*plain_line)["completion_tokens"], 200);
    ASSERT_TRUE((*plain_line)["cost_usd"].is_number()) << plain_line->dump();
    EXPECT_NEAR((*plain_line)["cost_usd"].get<double>(), 270e-6, 1e-12);
    EXPECT_EQ((*plain_line)["request_model"], "gpt-4o-mini");
    EXPECT_EQ((*plain_line)["served_model"], "gpt-4o-mini-2024-07-18");
    EXPECT_EQ((*plain_line)["stream"], nullptr);
    EXPECT_EQ((*stream_line)["prompt_tokens"], 3000);
    EXPECT_EQ((*stream_line)["completion_tokens"], 500);
    ASSERT_TRUE((*stream_line)["cost_usd"].is_number()) << stream_line->dump();
    EXPECT_NEAR((*stream_line)["cost_usd"].get<double>(), 750e-6, 1e-12);
    EXPECT_EQ((*stream_line)["stream"], "complete");
    EXPECT_TRUE((*stream_line)["ttft_ms"].is_number());

    auto samples = scrape();
    LabelSet labels{{"route", "llm_route"}, {"upstream", "primary"}, {"model", "gpt-4o-mini"}};
    labels["type"] = "prompt";
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total", labels), 4000);
    labels["type"] = "completion";
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total", labels), 700);
    auto cost = sampleValue(samples, "aiproxy_llm_cost_usd_total",
                            {{"route", "llm_route"}, {"model", "gpt-4o-mini"}});
    ASSERT_TRUE(cost);
    EXPECT_NEAR(*cost, 1020e-6, 1e-9);
    // Series appear only once non-zero: nothing for the unused price entry or "other".
    for (const auto& sample : family(samples, "aiproxy_llm_cost_usd_total"))
        EXPECT_EQ(sample.labels.at("model"), "gpt-4o-mini");
    EXPECT_EQ(family(samples, "aiproxy_llm_tokens_total").size(), 2U);
}

TEST_F(LlmTest, UnpricedModelCountsTokensUnderOtherWithoutCost) {
    ASSERT_TRUE(
        start(baseConfig(), "pricing:\n  claude-x: {input_per_mtok: 3, output_per_mtok: 15}\n"));
    primary_.enqueue(Reply::json(200, openAiCompletion("plain", 10, 4, "some-local-model")));

    Response plain = sendRequest(daemon_.port(), chat("m-other"));
    ASSERT_EQ(plain.status, 200) << plain.error;

    auto line = logLine("m-other");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 10);
    EXPECT_EQ((*line)["cost_usd"], nullptr);
    auto samples = scrape();
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total",
                          {{"route", "llm_route"},
                           {"upstream", "primary"},
                           {"model", "other"},
                           {"type", "prompt"}}),
              10);
    EXPECT_TRUE(family(samples, "aiproxy_llm_cost_usd_total").empty());
}

TEST_F(LlmTest, AnthropicCostUsesThePriceTableName) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(
        start(config, "pricing:\n  claude-test: {input_per_mtok: 3, output_per_mtok: 15}\n"));
    primary_.enqueue(Reply::json(200, anthropicMessage("Hi", 12, 5)));
    primary_.enqueue(anthropicSseReply(anthropicStreamData({"A", "B"}, 20, 7)));

    ASSERT_EQ(sendRequest(daemon_.port(), chat("ac-plain")).status, 200);
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("ac-stream", true)));
    ASSERT_EQ(client.readToEnd(), State::Complete) << client.error();

    auto plain_line = logLine("ac-plain");
    auto stream_line = logLine("ac-stream");
    ASSERT_TRUE(plain_line && stream_line) << daemon_.stderrText();
    // 12 * 3 + 5 * 15 = 111 micro-USD; 20 * 3 + 7 * 15 = 165 micro-USD.
    ASSERT_TRUE((*plain_line)["cost_usd"].is_number()) << plain_line->dump();
    EXPECT_NEAR((*plain_line)["cost_usd"].get<double>(), 111e-6, 1e-12);
    ASSERT_TRUE((*stream_line)["cost_usd"].is_number()) << stream_line->dump();
    EXPECT_NEAR((*stream_line)["cost_usd"].get<double>(), 165e-6, 1e-12);
    auto samples = scrape();
    auto cost = sampleValue(samples, "aiproxy_llm_cost_usd_total",
                            {{"route", "llm_route"}, {"model", "claude-test"}});
    ASSERT_TRUE(cost);
    EXPECT_NEAR(*cost, 276e-6, 1e-9);
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total",
                          {{"route", "llm_route"},
                           {"upstream", "primary"},
                           {"model", "claude-test"},
                           {"type", "completion"}}),
              12);
}

// The upstream resets after the first words: the client's stream ends without its terminating
// chunk, the log says upstream_cut and keeps what was known (the prompt, from message_start).
TEST_F(LlmTest, CutAnthropicStreamIsLoggedAsUpstreamCutWithWhatWasDelivered) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(
        start(config, "pricing:\n  claude-test: {input_per_mtok: 3, output_per_mtok: 15}\n"));
    auto events = anthropicStreamData({"Partial", " answer", " never", " ends"}, 30, 9);
    events.resize(5);  // message_start, block start, ping, two deltas
    primary_.enqueue(Reply::sse(namedEventsBehindPings(events), StreamEnd::Reset));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("cut-1", true)));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ASSERT_EQ(client.status(), 200);
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Broken) << client.body();
    EXPECT_EQ(stream.text, "Partial answer");
    EXPECT_FALSE(stream.done);
    auto line = logLine("cut-1");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["stream"], "upstream_cut") << line->dump();
    EXPECT_EQ((*line)["status"], 200);
    EXPECT_EQ((*line)["bytes"], client.body().size()) << line->dump();
    EXPECT_EQ((*line)["prompt_tokens"], 30) << line->dump();
    EXPECT_EQ(primary_.requestCount(), 1U);  // after the commit point: never retried
    auto samples = scrape();
    EXPECT_EQ(sampleValue(samples, "aiproxy_llm_tokens_total",
                          {{"route", "llm_route"},
                           {"upstream", "primary"},
                           {"model", "claude-test"},
                           {"type", "prompt"}}),
              30);
    EXPECT_EQ(
        sampleValue(samples, "aiproxy_llm_stream_outcomes_total", {{"outcome", "upstream_cut"}}),
        1);
}

TEST_F(LlmTest, CutOpenAiStreamIsLoggedAsUpstreamCut) {
    ASSERT_TRUE(start(baseConfig()));
    auto events = openAiStreamWithUsage(5, 5);
    events.resize(3);  // role and two words
    primary_.enqueue(Reply::sse(events, StreamEnd::Reset));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chat("cut-2", true)));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ChunkStream stream = readChunks(client);

    EXPECT_EQ(client.state(), State::Broken) << client.body();
    EXPECT_EQ(stream.text, "Hello there");
    auto line = logLine("cut-2");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["stream"], "upstream_cut") << line->dump();
    EXPECT_EQ((*line)["bytes"], client.body().size()) << line->dump();
    EXPECT_EQ((*line)["prompt_tokens"], nullptr) << line->dump();
}

}  // namespace
}  // namespace aiproxy::test
