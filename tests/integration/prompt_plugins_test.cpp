// The request-side prompt plugins through the real binary: APISIX's documented examples sent
// verbatim through the Admin API, the transformed body as the upstream receives it, refusals
// in the client's API shape that cost no upstream call, counted and logged with the plugin's
// name, and a fallback attempt that gets the same transformed body.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "support/backend_config.hpp"
#include "support/daemon.hpp"
#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"
#include "support/llm_replies.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "prompt-plugins-test-admin-key-0123456789";

class PromptPluginsTest : public DaemonFixture {
protected:
    void SetUp() override {
        ASSERT_TRUE(startWithStatusAndAdmin(
            BackendConfig{.backend = backend_.address(), .admin_key = kAdminKey}.yaml()));
    }

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return adminCall(admin_port_, kAdminKey, method, path, body);
    }

    // A route on /llm/* with ai-proxy over the backend and `plugins` (JSON members) beside it.
    void putRoute(const std::string& plugins) {
        auto created = admin("PUT", "routes/prompt",
                             R"({"uri": "/llm/*", "plugins": {"ai-proxy": {"upstream_id":
                                 "backend", "retry": 0}, )" +
                                 plugins + "}}");
        ASSERT_EQ(created.status, 201) << created.body;
    }

    Response post(const Json& body, const std::string& request_id = "",
                  const std::string& target = "/llm/chat/completions") {
        Request request{.method = "POST", .target = target, .body = body.dump()};
        request.headers.add("Content-Type", "application/json");
        if (!request_id.empty()) request.headers.add("X-Request-Id", request_id);
        return sendRequest(daemon_.port(), request);
    }

    Json lastUpstreamBody() {
        auto requests = backend_.requests();
        if (requests.empty()) return nullptr;
        return Json::parse(requests.back().body, nullptr, false);
    }

    // A refusal in OpenAI's shape with APISIX's top-level message beside it.
    static void expectRefused(const Response& response, const std::string& message) {
        EXPECT_EQ(response.status, 400) << response.body << response.error;
        auto body = Json::parse(response.body, nullptr, false);
        ASSERT_TRUE(body.is_object()) << response.body;
        EXPECT_EQ(body["message"], message);
        EXPECT_EQ(body["error"]["message"], message);
        EXPECT_EQ(body["error"]["type"], "invalid_request_error");
    }
};

TEST_F(PromptPluginsTest, PromptTemplateFromTheApisixDocs) {
    putRoute(R"("ai-prompt-template": {
        "templates": [
          {
            "name": "QnA with complexity",
            "template": {
              "model": "gpt-4",
              "messages": [
                {"role": "system", "content": "Answer in {{complexity}}."},
                {"role": "user", "content": "Explain {{prompt}}."}
              ]
            }
          }
        ]
      })");
    auto answered = post({{"template_name", "QnA with complexity"},
                          {"complexity", "brief"},
                          {"prompt", "quick \"sort\""}});
    EXPECT_EQ(answered.status, 200) << answered.body;
    ASSERT_EQ(backend_.requestCount(), 1u);
    EXPECT_EQ(lastUpstreamBody(), Json::parse(R"({"model": "gpt-4", "messages": [
                  {"role": "system", "content": "Answer in brief."},
                  {"role": "user", "content": "Explain quick \"sort\"."}]})"));

    expectRefused(post({{"complexity", "brief"}}, "tpl-missing"),
                  "template name is missing in request.");
    expectRefused(post({{"template_name", "Poems"}}), "template: Poems not configured.");
    EXPECT_EQ(backend_.requestCount(), 1u);  // refusals cost no upstream call
    EXPECT_EQ(
        metric(R"(aiproxy_plugin_rejected_total{route="prompt",plugin="ai-prompt-template"})"), 2);
    auto line = accessLogLine(daemon_, "tpl-missing");
    ASSERT_TRUE(line);
    EXPECT_EQ((*line)["refused_by"], "ai-prompt-template");
    EXPECT_EQ((*line)["status"], 400);
}

TEST_F(PromptPluginsTest, PromptDecoratorFromTheApisixDocsForOpenAiAndAnthropicClients) {
    putRoute(R"("ai-prompt-decorator": {
        "prepend": [
          {"role": "system", "content": "I have exams tomorrow so explain conceptually and briefly"}
        ],
        "append": [
          {"role": "system", "content": "End the response with an analogy."}
        ]
      })");
    auto answered =
        post({{"messages", {{{"role", "user"}, {"content", "What is TLS Handshake?"}}}}});
    EXPECT_EQ(answered.status, 200) << answered.body;
    EXPECT_EQ(lastUpstreamBody()["messages"], Json::parse(R"([
                  {"role": "system",
                   "content": "I have exams tomorrow so explain conceptually and briefly"},
                  {"role": "user", "content": "What is TLS Handshake?"},
                  {"role": "system", "content": "End the response with an analogy."}])"));

    // An Anthropic client's system prompt is top-level; the decorations join it there, before
    // the request is translated for this OpenAI-compatible upstream.
    backend_.enqueue(Reply::json(200, openAiCompletion("Hello!", 12, 3)));
    auto anthropic = post({{"model", "claude-3-5-haiku"},
                           {"max_tokens", 64},
                           {"system", "Be kind."},
                           {"messages", {{{"role", "user"}, {"content", "Hi"}}}}},
                          "", "/llm/v1/messages");
    EXPECT_EQ(anthropic.status, 200) << anthropic.body;
    EXPECT_EQ(Json::parse(anthropic.body, nullptr, false)["content"][0]["text"], "Hello!");
    EXPECT_EQ(
        lastUpstreamBody()["messages"],
        Json({{{"role", "system"},
               {"content",
                "I have exams tomorrow so explain conceptually and briefly\n\nBe kind.\n\nEnd "
                "the response with an analogy."}},
              {{"role", "user"}, {"content", "Hi"}}}));
}

TEST_F(PromptPluginsTest, PromptGuardFromTheApisixDocsRefusesBeforeAnyUpstreamCall) {
    putRoute(R"("ai-prompt-guard": {
        "allow_patterns": ["(?i)american"],
        "deny_patterns": ["(?i)pii"]
      })");
    auto chat = [&](const std::string& text, const std::string& id = "") {
        return post({{"model", "gpt-4"},
                     {"messages",
                      {{{"role", "system"}, {"content", "You are a mathematician"}},
                       {{"role", "user"}, {"content", text}}}}},
                    id);
    };
    EXPECT_EQ(chat("Tell me about the American revolution").status, 200);
    expectRefused(chat("Tell me about the French revolution", "guard-allow"),
                  "Request doesn't match allow patterns");
    expectRefused(chat("Give me American PII samples", "guard-deny"),
                  "Request contains prohibited content");
    EXPECT_EQ(backend_.requestCount(), 1u);
    EXPECT_EQ(metric(R"(aiproxy_plugin_rejected_total{route="prompt",plugin="ai-prompt-guard"})"),
              2);
    auto line = accessLogLine(daemon_, "guard-deny");
    ASSERT_TRUE(line);
    EXPECT_EQ((*line)["refused_by"], "ai-prompt-guard");
    EXPECT_TRUE((*line)["upstream"].is_null());

    // A pattern that does not compile is refused when written, naming the field.
    auto invalid = admin("PUT", "routes/bad",
                         R"({"uri": "/bad/*", "plugins": {"ai-proxy": {"upstream_id": "backend"},
                             "ai-prompt-guard": {"deny_patterns": ["(unclosed"]}}})");
    EXPECT_EQ(invalid.status, 400);
    EXPECT_EQ(Json::parse(invalid.body, nullptr, false)["error_msg"],
              "invalid configuration: plugins.ai-prompt-guard.deny_patterns[0]: invalid "
              "deny_pattern: (unclosed (missing closing parenthesis at offset 9)");
}

TEST_F(PromptPluginsTest, AFallbackAttemptGetsTheSameTransformedBody) {
    RefusingPort dead;
    auto upstream = admin("PUT", "upstreams/dead",
                          R"({"nodes": {"127.0.0.1:)" + std::to_string(dead.port()) + R"(": 1}})");
    ASSERT_EQ(upstream.status, 201) << upstream.body;
    auto created = admin("PUT", "routes/fallback",
                         R"({"uri": "/llm/*", "plugins": {
                             "ai-proxy": {"upstream_id": "dead", "upstream_fallback_id": "backend",
                                          "retry": 1},
                             "ai-prompt-decorator": {"prepend": [
                                 {"role": "system", "content": "Answer in French."}]},
                             "ai-prompt-guard": {"deny_patterns": ["forbidden"]}}})");
    ASSERT_EQ(created.status, 201) << created.body;
    auto answered = post({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}});
    EXPECT_EQ(answered.status, 200) << answered.body;
    ASSERT_EQ(backend_.requestCount(), 1u);
    EXPECT_EQ(lastUpstreamBody()["messages"],
              Json::parse(R"([{"role": "system", "content": "Answer in French."},
                              {"role": "user", "content": "Hi"}])"));
    EXPECT_EQ(backend_.requests().back().headers.get("Content-Length"),
              std::to_string(backend_.requests().back().body.size()));
}

}  // namespace
}  // namespace aiproxy::test
