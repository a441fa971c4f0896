// ai-request-rewrite through the real binary: APISIX's documented example written through the
// Admin API, with a mock as the rewrite LLM. The LLM gets the prompt and the client's body (and
// its own credentials, never the client's); the upstream gets the LLM's text, on every attempt;
// a failed rewrite is a 500 with the reason and costs no upstream call.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "support/backend_config.hpp"
#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "request-rewrite-test-admin-key-0123456789";

// From APISIX's ai-request-rewrite documentation ("Redact Sensitive Information").
constexpr const char* kPrompt =
    "Given a JSON request body, identify and mask any sensitive information such as credit card "
    "numbers, social security numbers, and personal identification numbers (e.g., passport or "
    "driver's license numbers). Replace detected sensitive values with a masked format (e.g., "
    "\"*** **** **** 1234\") for credit card numbers. Ensure the JSON structure remains "
    "unchanged.";
constexpr const char* kClientBody =
    R"({"content": "John said his debit card number is 4111 1111 1111 1111 and SIN is 123-45-6789."})";
constexpr const char* kMaskedBody =
    R"({"content": "John said his debit card number is **** **** **** 1111 and SIN is ***-**-****."})";

// An OpenAI chat completion whose message is `text`.
std::string completion(const std::string& text) {
    return Json{{"id", "chatcmpl-1"},
                {"object", "chat.completion"},
                {"choices", Json::array({{{"index", 0},
                                          {"message", {{"role", "assistant"}, {"content", text}}},
                                          {"finish_reason", "stop"}}})}}
        .dump();
}

class RequestRewriteTest : public DaemonFixture {
protected:
    void SetUp() override {
        ASSERT_TRUE(startWithStatusAndAdmin(BackendConfig{.backend = backend_.address(),
                                                          .admin_key = kAdminKey,
                                                          .routes = backendRoute("file", "/file/*")}
                                                .yaml()));
        auto fallback = admin("PUT", "upstreams/fallback",
                              R"({"nodes": {")" + fallback_.address() + R"(": 1}})");
        ASSERT_EQ(fallback.status, 201) << fallback.body;
    }

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return adminCall(admin_port_, kAdminKey, method, path, body);
    }

    // APISIX's example as an Admin API route, with the LLM at `endpoint` (openai-compatible)
    // and ai-proxy over `backend` as the terminal stage; `change` edits the plugin's config.
    Response putRoute(const std::string& endpoint, const std::function<void(Json&)>& change = {},
                      const Json& ai_proxy = {{"upstream_id", "backend"}, {"retry", 0}}) {
        Json plugin = {{"provider", "openai-compatible"},
                       {"auth", {{"header", {{"Authorization", "Bearer rewrite-llm-key"}}}}},
                       {"options", {{"model", "gpt-4"}}},
                       {"override", {{"endpoint", endpoint}}},
                       {"prompt", kPrompt}};
        if (change) change(plugin);
        Json route = {{"uri", "/anything"},
                      {"methods", Json::array({"POST"})},
                      {"plugins", {{"ai-request-rewrite", plugin}, {"ai-proxy", ai_proxy}}}};
        return admin("PUT", "routes/1", route.dump());
    }
    Response putRoute(const std::function<void(Json&)>& change = {}) {
        return putRoute("http://" + llm_.address() + "/v1/chat/completions", change);
    }

    Response send(const std::string& body = kClientBody,
                  std::chrono::milliseconds timeout = kWaitTimeout) {
        return sendRequest(daemon_.port(), {.method = "POST",
                                            .target = "/anything",
                                            .headers = {{"Content-Type", "application/json"},
                                                        {"Authorization", "Bearer client-secret"},
                                                        {"x-api-key", "client-secret"}},
                                            .body = body,
                                            .timeout = timeout});
    }

    // A 500 from the gateway naming the plugin and `reason`; nothing reached the upstreams.
    void expectRefused(const Response& response, const std::string& reason) {
        EXPECT_EQ(response.status, 500) << response.body << response.error;
        auto body = Json::parse(response.body, nullptr, false);
        ASSERT_TRUE(body.is_object()) << response.body;
        EXPECT_EQ(body["error"]["message"], "ai-request-rewrite: " + reason) << response.body;
        EXPECT_EQ(body["error"]["type"], "server_error");
        EXPECT_EQ(backend_.requestCount(), 0U);
        EXPECT_EQ(fallback_.requestCount(), 0U);
    }

    double rejected() const {
        return metric(R"(aiproxy_plugin_rejected_total{route="1",plugin="ai-request-rewrite"})");
    }

    MockBackend llm_{"llm"};
    MockBackend fallback_{"fallback"};
};

TEST_F(RequestRewriteTest, TheDocumentedExampleSendsTheMaskedBodyUpstream) {
    auto route = putRoute();
    ASSERT_EQ(route.status, 201) << route.body;
    llm_.enqueue(Reply::json(200, completion(kMaskedBody)));

    auto response = send();
    EXPECT_EQ(response.status, 200) << response.body << response.error;
    EXPECT_EQ(response.body, backend_.defaultBody());

    ASSERT_EQ(llm_.requestCount(), 1U);
    auto asked = llm_.requests().front();
    EXPECT_EQ(asked.method, "POST");
    EXPECT_EQ(asked.target, "/v1/chat/completions");
    EXPECT_EQ(asked.headers.get("Authorization"), "Bearer rewrite-llm-key");
    EXPECT_FALSE(asked.headers.has("x-api-key"));
    EXPECT_EQ(Json::parse(asked.body),
              (Json{{"messages", Json::array({{{"role", "system"}, {"content", kPrompt}},
                                              {{"role", "user"}, {"content", kClientBody}}})},
                    {"model", "gpt-4"},
                    {"stream", false}}));

    ASSERT_EQ(backend_.requestCount(), 1U);
    auto proxied = backend_.requests().front();
    EXPECT_EQ(proxied.body, kMaskedBody);
    EXPECT_EQ(proxied.headers.get("Content-Length"),
              std::to_string(std::string(kMaskedBody).size()));
    EXPECT_EQ(rejected(), 0);
}

TEST_F(RequestRewriteTest, TheLlmIsAskedOnPooledConnections) {
    ASSERT_EQ(putRoute().status, 201);
    for (int i = 0; i < 3; ++i) {
        llm_.enqueue(Reply::json(200, completion(kMaskedBody)));
        EXPECT_EQ(send().status, 200);
    }
    EXPECT_EQ(llm_.requestCount(), 3U);
    EXPECT_EQ(llm_.acceptedConnections(), 1);
}

TEST_F(RequestRewriteTest, AnAnthropicLlmIsAskedAndReadInItsOwnApi) {
    auto route = putRoute([this](Json& plugin) {
        plugin["provider"] = "anthropic";
        plugin["auth"] = {{"header", {{"x-api-key", "rewrite-anthropic-key"}}}};
        plugin["options"] = {{"model", "claude-sonnet-4-5"}};
        plugin["override"]["endpoint"] = "http://" + llm_.address() + "/v1/messages";
    });
    ASSERT_EQ(route.status, 201) << route.body;
    llm_.enqueue(
        Reply::json(200, Json{{"type", "message"},
                              {"role", "assistant"},
                              {"content", Json::array({{{"type", "text"}, {"text", kMaskedBody}}})},
                              {"stop_reason", "end_turn"}}
                             .dump()));
    EXPECT_EQ(send().status, 200);
    ASSERT_EQ(llm_.requestCount(), 1U);
    auto asked = llm_.requests().front();
    EXPECT_EQ(asked.target, "/v1/messages");
    EXPECT_EQ(asked.headers.get("x-api-key"), "rewrite-anthropic-key");
    EXPECT_TRUE(asked.headers.has("anthropic-version"));
    EXPECT_FALSE(asked.headers.has("Authorization"));
    auto body = Json::parse(asked.body);
    EXPECT_EQ(body["system"], kPrompt);
    EXPECT_EQ(body["messages"], Json::array({{{"role", "user"}, {"content", kClientBody}}}));
    ASSERT_EQ(backend_.requestCount(), 1U);
    EXPECT_EQ(backend_.requests().front().body, kMaskedBody);
}

TEST_F(RequestRewriteTest, TheClientsCredentialsNeverReachTheRewriteLlm) {
    auto route = putRoute([](Json& plugin) {
        plugin["auth"] = {{"query", {{"api_key", "rewrite-query-key"}}}};
    });
    ASSERT_EQ(route.status, 201) << route.body;
    llm_.enqueue(Reply::json(200, completion(kMaskedBody)));
    EXPECT_EQ(send().status, 200);
    ASSERT_EQ(llm_.requestCount(), 1U);
    auto asked = llm_.requests().front();
    EXPECT_EQ(asked.target, "/v1/chat/completions?api_key=rewrite-query-key");
    EXPECT_FALSE(asked.headers.has("Authorization"));
    EXPECT_FALSE(asked.headers.has("x-api-key"));
}

TEST_F(RequestRewriteTest, AFallbackAttemptGetsTheSameRewrittenBody) {
    auto route =
        putRoute("http://" + llm_.address() + "/v1/chat/completions", {},
                 {{"upstream_id", "backend"}, {"upstream_fallback_id", "fallback"}, {"retry", 1}});
    ASSERT_EQ(route.status, 201) << route.body;
    llm_.enqueue(Reply::json(200, completion(kMaskedBody)));
    backend_.enqueue(Reply::json(503, R"({"error":{"message":"overloaded"}})"));

    auto response = send();
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.body, fallback_.defaultBody());
    EXPECT_EQ(llm_.requestCount(), 1U);  // rewritten once, for every attempt
    ASSERT_EQ(backend_.requestCount(), 1U);
    ASSERT_EQ(fallback_.requestCount(), 1U);
    EXPECT_EQ(backend_.requests().front().body, kMaskedBody);
    EXPECT_EQ(fallback_.requests().front().body, kMaskedBody);
}

TEST_F(RequestRewriteTest, AnLlmErrorStatusIsA500WithTheReason) {
    ASSERT_EQ(putRoute().status, 201);
    llm_.enqueue(Reply::json(503, R"({"error":{"message":"overloaded"}})"));
    expectRefused(send(), "LLM answered 503");
    llm_.enqueue(Reply::json(401, R"({"error":{"message":"bad key"}})"));
    expectRefused(send(), "LLM answered 401");
    EXPECT_EQ(rejected(), 2);
}

TEST_F(RequestRewriteTest, AnLlmThatTakesTooLongIsA500WithinTheTimeout) {
    ASSERT_EQ(putRoute([](Json& plugin) { plugin["timeout"] = 300; }).status, 201);
    llm_.enqueue(Reply::hang());
    auto started = std::chrono::steady_clock::now();
    expectRefused(send(), "LLM did not answer within 300 ms");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
    // The timeout covers the answer's body too, not only its head.
    llm_.enqueue(Reply::gatedSse({"{}"}, std::make_shared<Gate>()));
    expectRefused(send(), "LLM did not answer within 300 ms");
    EXPECT_EQ(rejected(), 2);
}

TEST_F(RequestRewriteTest, AnLlmThatRefusesConnectionsIsA500) {
    RefusingPort refusing;
    ASSERT_EQ(putRoute("http://" + refusing.address() + "/v1").status, 201);
    auto response = send();
    EXPECT_EQ(response.status, 500) << response.body;
    auto body = Json::parse(response.body, nullptr, false);
    EXPECT_TRUE(body["error"]["message"].get<std::string>().starts_with(
        "ai-request-rewrite: could not connect to the LLM"))
        << response.body;
    EXPECT_EQ(backend_.requestCount(), 0U);
}

TEST_F(RequestRewriteTest, AnAnswerWithoutTextIsA500) {
    ASSERT_EQ(putRoute().status, 201);
    llm_.enqueue(Reply::json(200, "<html>maintenance</html>"));
    expectRefused(send(), "the LLM's answer is not JSON");
    llm_.enqueue(Reply::json(200, R"({"choices":[]})"));
    expectRefused(send(), "the LLM's answer has no text");
    llm_.enqueue(Reply::reset());
    auto reset = send();
    EXPECT_EQ(reset.status, 500) << reset.body;
    EXPECT_EQ(backend_.requestCount(), 0U);
}

TEST_F(RequestRewriteTest, AnEmptyBodyIsRefusedWithoutAskingTheLlm) {
    ASSERT_EQ(putRoute().status, 201);
    auto response = send("");
    EXPECT_EQ(response.status, 400) << response.body;
    auto body = Json::parse(response.body, nullptr, false);
    EXPECT_EQ(body["error"]["message"], "ai-request-rewrite: the request has no body to rewrite");
    EXPECT_EQ(llm_.requestCount(), 0U);
    EXPECT_EQ(backend_.requestCount(), 0U);
    EXPECT_EQ(rejected(), 1);
}

TEST_F(RequestRewriteTest, AClientThatLeavesCancelsTheLlmCall) {
    ASSERT_EQ(putRoute().status, 201);
    llm_.enqueue(Reply::hang());
    auto response = send(kClientBody, std::chrono::milliseconds(300));
    EXPECT_FALSE(response.ok());
    EXPECT_TRUE(llm_.waitForAbandonedHang());
    EXPECT_EQ(backend_.requestCount(), 0U);
    EXPECT_EQ(rejected(), 0);
}

}  // namespace
}  // namespace aiproxy::test
