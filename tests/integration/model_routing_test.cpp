// Routing by model through the real binary: two routes on /llm/*, the higher-priority one with
// vars [["post_arg.model", "~~", "^local-"]], send local-* models to one backend and everything
// else (other models, no model, bodies that are not JSON) to the other, whether the routes come
// from the config file or from the Admin API. The mocks' recorded requests prove who served what.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kKey = "edd1c9f034335f136f87ad84b625c8f1";
constexpr const char* kLocalVars = R"([["post_arg.model", "~~", "^local-"]])";

std::string staticSections() {
    return std::string(
               "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 1\n  drain_timeout: 10\n"
               "status:\n  enabled: false\n"
               "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: ") +
           kKey + ", role: admin}]\nlog: {level: info}\n";
}

std::string fileConfig(const MockBackend& local, const MockBackend& openai,
                       const std::string& vars = kLocalVars) {
    return staticSections() +
           "upstreams:\n"
           "  - {id: local, nodes: {\"" +
           local.address() +
           "\": 1}}\n"
           "  - {id: openai, nodes: {\"" +
           openai.address() +
           "\": 1}}\n"
           "routes:\n"
           "  - id: everything_else\n"
           "    uri: /llm/*\n"
           "    plugins: {ai-proxy: {upstream_id: openai, retry: 0, timeout: 5000}}\n"
           "  - id: local_models\n"
           "    uri: /llm/*\n"
           "    priority: 10\n"
           "    vars: " +
           vars +
           "\n"
           "    plugins: {ai-proxy: {upstream_id: local, retry: 0, timeout: 5000}}\n";
}

class ModelRoutingTest : public ::testing::Test {
protected:
    ::testing::AssertionResult start(const std::string& config) {
        if (!daemon_.start(config)) {
            return ::testing::AssertionFailure() << "no start:\n" << daemon_.stderrText();
        }
        if (!daemon_.waitForStderr("admin API on ")) {
            return ::testing::AssertionFailure() << "no admin line:\n" << daemon_.stderrText();
        }
        admin_port_ = parsePortAfter(daemon_.stderrText(), "admin API on ").value_or(0);
        return ::testing::AssertionSuccess();
    }

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return adminCall(admin_port_, kKey, method, path, body);
    }

    Response chat(const std::string& body, const std::string& content_type = "application/json") {
        Request request{.method = "POST", .target = "/llm/chat/completions", .body = body};
        request.headers.add("Content-Type", content_type);
        return sendRequest(daemon_.port(), request);
    }

    static std::string chatBody(const std::string& model) {
        return Json{{"model", model}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}}.dump();
    }

    // The request reached `backend` (and only it), body intact.
    void expectServedBy(const Response& response, const std::string& sent, MockBackend& backend,
                        std::size_t count_before) {
        ASSERT_TRUE(response.ok()) << response.error;
        EXPECT_EQ(response.status, 200) << response.body;
        EXPECT_EQ(response.body, backend.defaultBody()) << "sent: " << sent;
        ASSERT_TRUE(backend.waitForRequests(count_before + 1));
        auto requests = backend.requests();
        ASSERT_EQ(requests.size(), count_before + 1);
        EXPECT_EQ(requests.back().body, sent);
    }

    void expectModelRouting() {
        std::string local_llama = chatBody("local-llama");
        expectServedBy(chat(local_llama), local_llama, local_, 0);
        std::string gpt = chatBody("gpt-4o");
        expectServedBy(chat(gpt), gpt, openai_, 0);
        std::string local_mistral = chatBody("local-mistral");
        expectServedBy(chat(local_mistral), local_mistral, local_, 1);
        // The prefix is case-sensitive (~~), and must start the name.
        std::string upper = chatBody("LOCAL-llama");
        expectServedBy(chat(upper), upper, openai_, 1);
        std::string inner = chatBody("my-local-llama");
        expectServedBy(chat(inner), inner, openai_, 2);
        EXPECT_EQ(local_.requestCount(), 2u);
        EXPECT_EQ(openai_.requestCount(), 3u);
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "--- aiproxyd log ---\n" << daemon_.stderrText();
    }

    MockBackend local_{"local"};
    MockBackend openai_{"openai"};
    Daemon daemon_;  // after the backends: stopped before them
    uint16_t admin_port_ = 0;
};

TEST_F(ModelRoutingTest, LocalModelsGoToTheLocalBackendAndTheRestToOpenAi) {
    ASSERT_TRUE(start(fileConfig(local_, openai_)));
    expectModelRouting();
}

TEST_F(ModelRoutingTest, BodiesWithoutALocalModelGoToTheOtherRoute) {
    ASSERT_TRUE(start(fileConfig(local_, openai_)));
    std::size_t served = 0;
    for (const auto& [body, content_type] : std::vector<std::pair<std::string, std::string>>{
             {"local-llama", "text/plain"},                      // not JSON
             {R"({"model":"local-llama")", "application/json"},  // truncated JSON
             {R"({"messages":[]})", "application/json"},         // no model
             {R"({"model":null})", "application/json"},          // null model
             {R"({"model":5})", "application/json"},             // not a string
             {R"(["local-llama"])", "application/json"},         // not an object
             {"", "application/json"},                           // empty body
         }) {
        SCOPED_TRACE(body);
        expectServedBy(chat(body, content_type), body, openai_, served++);
    }
    EXPECT_EQ(local_.requestCount(), 0u);
}

TEST_F(ModelRoutingTest, JsonSentWithAFormContentTypeStillRoutesByModel) {
    // `curl -d '{...}'` labels JSON as application/x-www-form-urlencoded.
    ASSERT_TRUE(start(fileConfig(local_, openai_)));
    std::string body = chatBody("local-llama");
    expectServedBy(chat(body, "application/x-www-form-urlencoded"), body, local_, 0);
}

TEST_F(ModelRoutingTest, NestedFieldsNumbersAndNegationSelectRoutes) {
    ASSERT_TRUE(start(fileConfig(
        local_, openai_,
        R"([["post_arg.metadata.tier", "==", "free"], ["post_arg.priority", "!", ">", 5]])")));
    std::string free_low = R"({"model":"gpt-4o","metadata":{"tier":"free"},"priority":1})";
    expectServedBy(chat(free_low), free_low, local_, 0);
    std::string free_high = R"({"model":"gpt-4o","metadata":{"tier":"free"},"priority":9})";
    expectServedBy(chat(free_high), free_high, openai_, 0);
    std::string paid = R"({"model":"gpt-4o","metadata":{"tier":"paid"}})";
    expectServedBy(chat(paid), paid, openai_, 1);
    std::string free_no_priority = R"({"model":"gpt-4o","metadata":{"tier":"free"}})";
    expectServedBy(chat(free_no_priority), free_no_priority, local_, 1);  // nil > 5 is false
}

TEST_F(ModelRoutingTest, AdminApiRouteWithVarsRoutesTheSame) {
    ASSERT_TRUE(start(staticSections()));
    ASSERT_NE(admin_port_, 0);
    auto put = [&](const std::string& path, const std::string& body) {
        auto response = admin("PUT", path, body);
        EXPECT_EQ(response.status, 201) << path << ": " << response.body;
    };
    put("upstreams/local", R"({"nodes":{")" + local_.address() + R"(":1}})");
    put("upstreams/openai", R"({"nodes":{")" + openai_.address() + R"(":1}})");
    put("routes/y", R"({"uri":"/llm/*","plugins":{"ai-proxy":{"upstream_id":"openai",)"
                    R"("retry":0,"timeout":5000}}})");
    put("routes/x", std::string(R"({"uri":"/llm/*","priority":10,"vars":)") + kLocalVars +
                        R"(,"plugins":{"ai-proxy":{"upstream_id":"local","retry":0,)"
                        R"("timeout":5000}}})");
    auto stored = admin("GET", "routes/x", "");
    ASSERT_EQ(stored.status, 200) << stored.body;
    EXPECT_EQ(Json::parse(stored.body)["value"]["vars"], Json::parse(kLocalVars));
    expectModelRouting();

    // A bad regex is refused with its path, and the route in place keeps working.
    auto invalid = admin("PUT", "routes/x",
                         R"({"uri":"/llm/*","priority":10,"vars":[["post_arg.model","~~","(("]],)"
                         R"("plugins":{"ai-proxy":{"upstream_id":"local"}}})");
    EXPECT_EQ(invalid.status, 400);
    EXPECT_EQ(Json::parse(invalid.body)["error_msg"],
              "invalid configuration: vars[0][2]: invalid regular expression: Mismatched '(' and "
              "')' in regular expression");
    std::string again = chatBody("local-llama");
    expectServedBy(chat(again), again, local_, 2);
}

TEST_F(ModelRoutingTest, CheckRejectsAnInvalidRegexWithItsPath) {
    TempDir dir;
    auto file = dir.write("aiproxy.yaml",
                          fileConfig(local_, openai_, R"([["post_arg.model", "~~", "[local-"]])"));
    RunResult result = runAiproxyd({"--check", "-c", file.string()});
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("routes[1].vars[0][2]: invalid regular expression: "),
              std::string::npos)
        << result.output;
}

}  // namespace
}  // namespace aiproxy::test
