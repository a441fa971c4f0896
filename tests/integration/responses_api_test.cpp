// The OpenAI Responses API (POST /v1/responses) through the real binary: model_map and routing by
// post_arg.model on its bodies, usage and cost of plain and streamed answers, the preamble hold
// over response.created and friends (a failure or an error event before the first text delta
// goes to the fallback), and an Anthropic upstream answering a Responses client, plain and
// streamed.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;
using State = StreamingClient::State;

constexpr const char* kResponses = "/llm/v1/responses";

// ---- The Responses API wire format (OpenAI API reference, "Responses", "Streaming events") ----

Json messageItem(const std::string& text, const std::string& status = "completed") {
    Json content = Json::array();
    if (!text.empty() || status == "completed") {
        content.push_back(
            {{"type", "output_text"}, {"text", text}, {"annotations", Json::array()}});
    }
    return {{"id", "msg_1"},
            {"type", "message"},
            {"status", status},
            {"role", "assistant"},
            {"content", content}};
}

Json responseObject(const std::string& status, Json output, Json usage,
                    const std::string& model = "gpt-4.1-mini-2025-04-14") {
    return {{"id", "resp_1"},           {"object", "response"}, {"created_at", 1700000000},
            {"status", status},         {"model", model},       {"output", std::move(output)},
            {"usage", std::move(usage)}};
}

Json usageJson(int input, int output) {
    return {{"input_tokens", input},
            {"input_tokens_details", {{"cached_tokens", 0}}},
            {"output_tokens", output},
            {"output_tokens_details", {{"reasoning_tokens", 0}}},
            {"total_tokens", input + output}};
}

std::string responseBody(const std::string& text, int input, int output) {
    return responseObject("completed", Json::array({messageItem(text)}), usageJson(input, output))
        .dump();
}

std::string event(const std::string& type, Json fields, int sequence) {
    fields["type"] = type;
    fields["sequence_number"] = sequence;
    return fields.dump();
}

// The events before the first text delta: all of them carry no content.
std::vector<std::string> responsesOpening() {
    Json in_progress = responseObject("in_progress", Json::array(), nullptr);
    return {
        event("response.created", {{"response", in_progress}}, 0),
        event("response.in_progress", {{"response", in_progress}}, 1),
        event("response.output_item.added",
              {{"output_index", 0}, {"item", messageItem("", "in_progress")}}, 2),
        event("response.content_part.added",
              {{"item_id", "msg_1"},
               {"output_index", 0},
               {"content_index", 0},
               {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", Json::array()}}}},
              3)};
}

// A whole streamed answer: the opening, one delta per word, the closing events with usage.
std::vector<std::string> responsesStream(const std::vector<std::string>& words, int input,
                                         int output) {
    auto out = responsesOpening();
    std::string text;
    int sequence = 4;
    for (const auto& word : words) {
        text += word;
        out.push_back(event(
            "response.output_text.delta",
            {{"item_id", "msg_1"}, {"output_index", 0}, {"content_index", 0}, {"delta", word}},
            sequence++));
    }
    out.push_back(event("response.output_item.done",
                        {{"output_index", 0}, {"item", messageItem(text)}}, sequence++));
    out.push_back(event("response.completed",
                        {{"response", responseObject("completed", Json::array({messageItem(text)}),
                                                     usageJson(input, output))}},
                        sequence));
    return out;
}

// As the API sends it: `event:` lines, the whole stream in one body.
Reply namedSseReply(const std::vector<std::string>& data) {
    std::string body;
    for (const auto& item : data) {
        body += "event: " + Json::parse(item).value("type", "") + "\ndata: " + item + "\n\n";
    }
    return Reply{.kind = Reply::Kind::Respond,
                 .headers = {{"Content-Type", "text/event-stream"}},
                 .body = std::move(body)};
}

// ---- Anthropic (docs.anthropic.com, "Messages" and "Streaming") --------------------------------

std::string anthropicMessage(const std::string& text, int input, int output) {
    return Json{{"id", "msg_01abc"},
                {"type", "message"},
                {"role", "assistant"},
                {"model", "claude-test-20250101"},
                {"content", Json::array({{{"type", "text"}, {"text", text}}})},
                {"stop_reason", "end_turn"},
                {"stop_sequence", nullptr},
                {"usage", {{"input_tokens", input}, {"output_tokens", output}}}}
        .dump();
}

std::vector<std::string> anthropicStream(const std::vector<std::string>& words, int input,
                                         int output) {
    std::vector<std::string> out{
        Json{{"type", "message_start"},
             {"message",
              {{"id", "msg_02xyz"},
               {"type", "message"},
               {"role", "assistant"},
               {"model", "claude-test-20250101"},
               {"content", Json::array()},
               {"usage", {{"input_tokens", input}, {"output_tokens", 1}}}}}}
            .dump(),
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
        R"({"type":"ping"})"};
    for (const auto& word : words) {
        out.push_back(Json{{"type", "content_block_delta"},
                           {"index", 0},
                           {"delta", {{"type", "text_delta"}, {"text", word}}}}
                          .dump());
    }
    out.push_back(R"({"type":"content_block_stop","index":0})");
    out.push_back(Json{{"type", "message_delta"},
                       {"delta", {{"stop_reason", "end_turn"}}},
                       {"usage", {{"output_tokens", output}}}}
                      .dump());
    out.push_back(R"({"type":"message_stop"})");
    return out;
}

std::vector<std::pair<std::string, std::string>> anthropicUpstream() {
    return {{"provider", "anthropic"},
            {"scheme", "http"},
            {"auth", "{header: {x-api-key: sk-ant-upstream}}"}};
}

// ---- Reading a Responses stream -----------------------------------------------------------------

struct EventStream {
    std::vector<Json> events;  // data of each event, comments left out
    std::string text;          // the output_text deltas joined
    std::optional<Json> completed;
    std::vector<std::string> bad;  // events that are not JSON with a type
};

EventStream readEvents(StreamingClient& client) {
    EventStream out;
    while (auto next = client.nextEvent()) {
        if (next->data.empty()) continue;
        Json data = Json::parse(next->data, nullptr, false);
        if (!data.is_object() || !data.contains("type")) {
            out.bad.push_back(next->data);
            continue;
        }
        if (data["type"] == "response.output_text.delta") out.text += data.value("delta", "");
        if (data["type"] == "response.completed") out.completed = data["response"];
        out.events.push_back(std::move(data));
    }
    return out;
}

class ResponsesApiTest : public GatewayTest {
protected:
    ::testing::AssertionResult start(const GatewayConfig& config, const std::string& extra = "") {
        if (!daemon_.start(config.yaml() + extra)) {
            return ::testing::AssertionFailure() << "aiproxyd did not start:\n"
                                                 << daemon_.stderrText();
        }
        if (!daemon_.waitForStderr("status endpoint on ")) {
            return ::testing::AssertionFailure() << "no status endpoint line";
        }
        status_port_ = parsePortAfter(daemon_.stderrText(), "status endpoint on ").value_or(0);
        return ::testing::AssertionSuccess();
    }

    static Request responses(const Json& body, const std::string& request_id,
                             const std::string& target = kResponses) {
        Request request{.method = "POST", .target = target, .body = body.dump()};
        request.headers.add("Content-Type", "application/json");
        request.headers.add("Authorization", "Bearer sk-client");
        request.headers.add("X-Request-Id", request_id);
        return request;
    }

    static Json body(const std::string& model, bool stream = false) {
        Json out{{"model", model}, {"input", "Hello there"}};
        if (stream) out["stream"] = true;
        return out;
    }

    double metric(const std::string& series) const { return metricSample(status_port_, series); }

    uint16_t status_port_ = 0;
};

TEST_F(ResponsesApiTest, ModelMapRenamesTheModelOfAResponsesRequest) {
    GatewayConfig config = baseConfig();
    config.primary_settings = {{"model_map", "{fast: gpt-4.1-mini}"}};
    ASSERT_TRUE(start(config));
    primary_.enqueue(Reply::json(200, responseBody("Hi", 5, 1)));

    Response response = sendRequest(daemon_.port(), responses(body("fast"), "map"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.body, responseBody("Hi", 5, 1));  // passed through untouched
    EXPECT_EQ(response.headers.get("X-AIProxy-Model"), "gpt-4.1-mini");
    ASSERT_EQ(primary_.requestCount(), 1U);
    RecordedRequest seen = primary_.requests()[0];
    EXPECT_EQ(seen.target, "/v1/responses");
    EXPECT_EQ(Json::parse(seen.body), (Json{{"model", "gpt-4.1-mini"}, {"input", "Hello there"}}));
    auto line = accessLogLine(daemon_, "map");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["request_model"], "fast");
}

// A higher-priority route takes local-* models to the fallback upstream, by the model of a
// Responses body as of a chat one.
TEST_F(ResponsesApiTest, PostArgModelRoutesResponsesRequests) {
    ASSERT_TRUE(start(baseConfig(),
                      "  - id: local_models\n    uri: /llm/*\n    priority: 10\n"
                      "    vars: [[\"post_arg.model\", \"~~\", \"^local-\"]]\n"
                      "    plugins: {ai-proxy: {upstream_id: fallback, retry: 0}}\n"));
    fallback_.setDefault(Reply::json(200, responseBody("local", 1, 1)));
    primary_.setDefault(Reply::json(200, responseBody("remote", 1, 1)));

    Response to_local = sendRequest(daemon_.port(), responses(body("local-llama"), "r-local"));
    Response to_primary = sendRequest(daemon_.port(), responses(body("gpt-4.1"), "r-remote"));

    EXPECT_EQ(to_local.status, 200) << to_local.body;
    EXPECT_EQ(to_primary.status, 200) << to_primary.body;
    ASSERT_EQ(fallback_.requestCount(), 1U);
    EXPECT_EQ(Json::parse(fallback_.requests()[0].body)["model"], "local-llama");
    EXPECT_EQ(fallback_.requests()[0].target, "/v1/responses");
    ASSERT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(Json::parse(primary_.requests()[0].body)["model"], "gpt-4.1");
}

TEST_F(ResponsesApiTest, UsageAndCostOfPlainAndStreamedAnswersReachLogAndMetrics) {
    GatewayConfig config = baseConfig();
    ASSERT_TRUE(
        start(config, "pricing:\n  gpt-4.1-mini: {input_per_mtok: 0.4, output_per_mtok: 1.6}\n"));
    primary_.enqueue(Reply::json(200, responseBody("plain", 1000, 200)));
    primary_.enqueue(namedSseReply(responsesStream({"Hello", " there"}, 3000, 500)));
    // A server that sends no `event:` lines: the type in the data is enough.
    primary_.enqueue(Reply::sse(responsesStream({"Hi"}, 10, 5)));

    ASSERT_EQ(sendRequest(daemon_.port(), responses(body("gpt-4.1-mini"), "u-plain")).status, 200);
    for (const char* id : {"u-stream", "u-unnamed"}) {
        StreamingClient client{daemon_.port()};
        ASSERT_TRUE(client.send(responses(body("gpt-4.1-mini", true), id)));
        ASSERT_EQ(client.readToEnd(), State::Complete) << client.error();
    }

    auto plain = accessLogLine(daemon_, "u-plain");
    auto stream = accessLogLine(daemon_, "u-stream");
    auto unnamed = accessLogLine(daemon_, "u-unnamed");
    ASSERT_TRUE(plain && stream && unnamed) << daemon_.stderrText();
    // 1000 * 0.4 + 200 * 1.6 = 720 micro-USD; 3000 * 0.4 + 500 * 1.6 = 2000 micro-USD.
    EXPECT_EQ((*plain)["prompt_tokens"], 1000);
    EXPECT_EQ((*plain)["completion_tokens"], 200);
    ASSERT_TRUE((*plain)["cost_usd"].is_number()) << plain->dump();
    EXPECT_NEAR((*plain)["cost_usd"].get<double>(), 720e-6, 1e-12);
    EXPECT_EQ((*plain)["served_model"], "gpt-4.1-mini-2025-04-14");
    EXPECT_EQ((*stream)["prompt_tokens"], 3000);
    EXPECT_EQ((*stream)["completion_tokens"], 500);
    EXPECT_EQ((*stream)["stream"], "complete");
    ASSERT_TRUE((*stream)["cost_usd"].is_number()) << stream->dump();
    EXPECT_NEAR((*stream)["cost_usd"].get<double>(), 2000e-6, 1e-12);
    EXPECT_EQ((*unnamed)["prompt_tokens"], 10);
    EXPECT_EQ((*unnamed)["completion_tokens"], 5);

    EXPECT_EQ(metric(R"(aiproxy_llm_tokens_total{route="llm_route",upstream="primary",)"
                     R"(model="gpt-4.1-mini",type="prompt"})"),
              4010);
    EXPECT_EQ(metric(R"(aiproxy_llm_tokens_total{route="llm_route",upstream="primary",)"
                     R"(model="gpt-4.1-mini",type="completion"})"),
              705);
    EXPECT_NEAR(metric(R"(aiproxy_llm_cost_usd_total{route="llm_route",model="gpt-4.1-mini"})"),
                2732e-6, 1e-9);  // 720 + 2000 + 12 micro-USD
}

// Issue 20 item 6: response.created, response.in_progress and the empty item and part told the
// client nothing; a reset, an `error` event or response.failed after them fails over.
TEST_F(ResponsesApiTest, AResponsesStreamThatFailsBeforeItsFirstDeltaGoesToTheFallback) {
    auto opening = responsesOpening();
    auto with = [&opening](std::string last) {
        auto events = opening;
        events.push_back(std::move(last));
        return events;
    };
    // The reset last: two TCP failures would eject the node (passive health checks).
    primary_.enqueue(Reply::sse(with(R"({"type":"error","code":"server_error",)"
                                     R"("message":"overloaded","param":null})")));
    primary_.enqueue(Reply::sse(with(event(
        "response.failed",
        {{"response",
          {{"status", "failed"}, {"error", {{"code", "server_error"}, {"message", "boom"}}}}}},
        4))));
    primary_.enqueue(Reply::sse(opening, StreamEnd::Reset));
    const auto fallback_events = responsesStream({"From", " fallback"}, 4, 2);
    fallback_.setDefault(Reply::sse(fallback_events));
    ASSERT_TRUE(start(baseConfig()));

    for (const char* id : {"p-error", "p-failed", "p-reset"}) {
        StreamingClient client{daemon_.port()};
        ASSERT_TRUE(client.send(responses(body("gpt-4.1-mini", true), id)));
        ASSERT_TRUE(client.readHeader()) << client.error();
        EXPECT_EQ(client.status(), 200);
        EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "fallback") << id;
        EventStream stream = readEvents(client);
        EXPECT_EQ(client.state(), State::Complete) << client.error();
        // Only the fallback's events, each once: nothing of the primary's opening.
        ASSERT_EQ(stream.events.size(), fallback_events.size()) << id << ": " << client.body();
        for (std::size_t i = 0; i < fallback_events.size(); ++i) {
            EXPECT_EQ(stream.events[i], Json::parse(fallback_events[i])) << id << " event " << i;
        }
        EXPECT_EQ(stream.text, "From fallback");
    }
    EXPECT_EQ(metric(R"(aiproxy_upstream_attempts_total{upstream="primary",node=")" +
                     primary_.address() + R"(",outcome="stream_error"})"),
              2);
}

TEST_F(ResponsesApiTest, AnAnthropicFallbackAnswersAResponsesClientInItsOwnShape) {
    GatewayConfig config = baseConfig();
    config.fallback_settings = anthropicUpstream();
    ASSERT_TRUE(
        start(config, "pricing:\n  claude-test: {input_per_mtok: 3, output_per_mtok: 15}\n"));
    primary_.setDefault(Reply::json(503, R"({"error":{"message":"down"}})"));
    fallback_.enqueue(Reply::json(200, anthropicMessage("Hello from Claude", 12, 5)));

    Json request{
        {"model", "gpt-4.1-mini"},
        {"instructions", "Be brief."},
        {"input",
         Json::array({{{"role", "user"},
                       {"content", Json::array({{{"type", "input_text"}, {"text", "Hi"}}})}}})},
        {"max_output_tokens", 64},
        {"temperature", 0.5}};
    Response response = sendRequest(daemon_.port(), responses(request, "a-plain"));

    ASSERT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "fallback");
    Json answer = Json::parse(response.body, nullptr, false);
    ASSERT_TRUE(answer.is_object()) << response.body;
    EXPECT_EQ(answer["object"], "response");
    EXPECT_EQ(answer["id"], "resp_01abc");
    EXPECT_EQ(answer["status"], "completed");
    EXPECT_EQ(answer["model"], "claude-test-20250101");
    ASSERT_EQ(answer["output"].size(), 1U) << response.body;
    EXPECT_EQ(answer["output"][0]["type"], "message");
    EXPECT_EQ(answer["output"][0]["role"], "assistant");
    EXPECT_EQ(answer["output"][0]["content"][0]["type"], "output_text");
    EXPECT_EQ(answer["output"][0]["content"][0]["text"], "Hello from Claude");
    EXPECT_EQ(answer["usage"]["input_tokens"], 12);
    EXPECT_EQ(answer["usage"]["output_tokens"], 5);
    EXPECT_EQ(answer["usage"]["total_tokens"], 17);

    ASSERT_EQ(fallback_.requestCount(), 1U);
    RecordedRequest seen = fallback_.requests()[0];
    EXPECT_EQ(seen.target, "/v1/messages");
    EXPECT_EQ(seen.headers.get("x-api-key"), "sk-ant-upstream");
    EXPECT_EQ(seen.headers.get("anthropic-version"), "2023-06-01");
    EXPECT_FALSE(seen.headers.has("Authorization"));
    EXPECT_EQ(
        Json::parse(seen.body),
        (Json{{"model", "gpt-4.1-mini"},
              {"system", "Be brief."},
              {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}}}}}},
              {"max_tokens", 64},
              {"temperature", 0.5}}));
    auto line = accessLogLine(daemon_, "a-plain");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["prompt_tokens"], 12);
    EXPECT_EQ((*line)["completion_tokens"], 5);
    ASSERT_TRUE((*line)["cost_usd"].is_number()) << line->dump();
    EXPECT_NEAR((*line)["cost_usd"].get<double>(), 111e-6, 1e-12);  // 12 * 3 + 5 * 15
}

// The primary sends response.created and an error event; the Anthropic fallback's stream comes
// back as Responses events, clean: one response.created, the deltas, response.completed.
TEST_F(ResponsesApiTest, AStreamFailsOverToAnAnthropicFallbackAndStaysAResponsesStream) {
    GatewayConfig config = baseConfig();
    config.fallback_settings = anthropicUpstream();
    ASSERT_TRUE(
        start(config, "pricing:\n  claude-test: {input_per_mtok: 3, output_per_mtok: 15}\n"));
    auto failing = responsesOpening();
    failing.resize(2);
    failing.push_back(R"({"type":"error","code":"server_error","message":"overloaded"})");
    primary_.enqueue(Reply::sse(failing));
    fallback_.enqueue(Reply::sse(anthropicStream({"Hello", " from", " Claude"}, 20, 7)));

    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(responses(body("gpt-4.1-mini", true), "a-stream")));
    ASSERT_TRUE(client.readHeader()) << client.error();
    ASSERT_EQ(client.status(), 200) << client.body();
    EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "fallback");
    EXPECT_TRUE(client.headers().get("Content-Type").value_or("").starts_with("text/event-stream"));
    EventStream stream = readEvents(client);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(stream.bad, std::vector<std::string>{}) << client.body();
    EXPECT_EQ(stream.text, "Hello from Claude") << client.body();
    std::vector<std::string> types;
    for (std::size_t i = 0; i < stream.events.size(); ++i) {
        types.push_back(stream.events[i]["type"]);
        EXPECT_EQ(stream.events[i]["sequence_number"], i) << client.body();
    }
    ASSERT_GE(types.size(), 2U);
    EXPECT_EQ(types.front(), "response.created") << client.body();
    EXPECT_EQ(std::count(types.begin(), types.end(), "response.created"), 1) << client.body();
    EXPECT_EQ(types.back(), "response.completed") << client.body();
    ASSERT_TRUE(stream.completed);
    EXPECT_EQ((*stream.completed)["status"], "completed");
    EXPECT_EQ((*stream.completed)["output"][0]["content"][0]["text"], "Hello from Claude");
    EXPECT_EQ((*stream.completed)["usage"]["input_tokens"], 20);
    EXPECT_EQ((*stream.completed)["usage"]["output_tokens"], 7);

    EXPECT_EQ(Json::parse(fallback_.requests().at(0).body).value("stream", false), true);
    auto line = accessLogLine(daemon_, "a-stream");
    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["stream"], "complete");
    EXPECT_EQ((*line)["prompt_tokens"], 20);
    EXPECT_EQ((*line)["completion_tokens"], 7);
    ASSERT_TRUE((*line)["cost_usd"].is_number()) << line->dump();
    EXPECT_NEAR((*line)["cost_usd"].get<double>(), 165e-6, 1e-12);  // 20 * 3 + 7 * 15
}

TEST_F(ResponsesApiTest, AResponsesRequestAnAnthropicUpstreamCannotServeIsRefused) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    config.fallback.clear();
    ASSERT_TRUE(start(config));
    Json request = body("claude-test");
    request["tools"] = Json::array({{{"type", "function"}, {"name", "get_weather"}}});

    Response response = sendRequest(daemon_.port(), responses(request, "refused"));

    EXPECT_EQ(response.status, 400) << response.body;
    Json error = Json::parse(response.body, nullptr, false);
    EXPECT_EQ(error["error"]["code"], "untranslatable_request") << response.body;
    EXPECT_EQ(error["error"]["message"],
              "tools: tools are not translated for an Anthropic upstream");
    EXPECT_EQ(primary_.requestCount(), 0U);
}

}  // namespace
}  // namespace aiproxy::test
