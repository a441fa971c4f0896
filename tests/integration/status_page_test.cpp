// The live status page through the real binary: GET / on the status port serves the page,
// /status.json reports what real traffic did (per route, model, consumer and node), and the
// Admin API serves the same page and JSON only with its key.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"
#include "support/llm_replies.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "status-page-test-admin-key-0123456789";
constexpr const char* kAliceKey = "sk-gw-alice-status-0123456789";

class StatusPageTest : public DaemonFixture {
protected:
    ::testing::AssertionResult start() {
        daemon_.setEnvironment("ALICE_KEY", kAliceKey);
        return startWithStatusAndAdmin(
            std::string("server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 2\n") +
            "status:\n  listen: \"127.0.0.1:0\"\n"
            "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: " +
            kAdminKey +
            "}]\n"
            "pricing:\n  gpt-4o-mini: {input_per_mtok: 1000, output_per_mtok: 2000}\n"
            "consumers:\n"
            "  - username: alice\n"
            "    plugins: {key-auth: {key: \"${ALICE_KEY}\"}}\n"
            "upstreams:\n"
            "  - id: primary\n    nodes: {\"" +
            backend_.address() +
            "\": 1}\n"
            "    checks:\n      passive:\n        cooldown: 60\n"
            "        unhealthy: {http_statuses: [500], http_failures: 1}\n"
            "  - id: spare\n    nodes: {\"" +
            spare_.address() +
            "\": 1}\n"
            "routes:\n  - id: chat\n    uri: /llm/*\n    plugins:\n"
            "      key-auth: {}\n"
            "      ai-proxy: {upstream_id: primary, upstream_fallback_id: spare, retry: 1}\n");
    }

    Response chat(bool with_key = true, const std::string& request_id = "") {
        Request request = chatRequest("/llm/chat/completions");
        if (with_key) request.headers.add("Authorization", std::string("Bearer ") + kAliceKey);
        if (!request_id.empty()) request.headers.add("X-Request-Id", request_id);
        return sendRequest(daemon_.port(), request);
    }

    /// The request's metrics are recorded after its response, before its access log line.
    bool recorded(const std::string& request_id) {
        return daemon_.waitForStderr("\"request_id\":\"" + request_id + "\"");
    }

    Json statusJson() {
        auto response = sendRequest(status_port_, {.target = "/status.json"});
        EXPECT_EQ(response.status, 200) << response.body;
        EXPECT_EQ(response.headers.get("Content-Type"), "application/json");
        return Json::parse(response.body, nullptr, false);
    }

    static const Json& entry(const Json& list, const std::string& key, const std::string& value) {
        static const Json kMissing;
        for (const auto& item : list) {
            if (item.value(key, "") == value) return item;
        }
        ADD_FAILURE() << "no " << key << " = " << value << " in " << list.dump();
        return kMissing;
    }

    static std::uint64_t sum(const Json& numbers) {
        std::uint64_t total = 0;
        for (const auto& n : numbers)
            total += n.get<std::uint64_t>();
        return total;
    }

    Response admin(const std::string& target, const std::string& key) {
        Request request{.target = target};
        if (!key.empty()) request.headers.add("X-API-KEY", key);
        return sendRequest(admin_port_, request);
    }

    MockBackend spare_{"spare"};
};

TEST_F(StatusPageTest, JsonReportsTheTrafficByRouteModelConsumerAndNode) {
    backend_.setDefault(Reply::json(200, openAiCompletion("Hi", 10, 5)));
    ASSERT_TRUE(start());
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(chat(true, "ok-" + std::to_string(i)).status, 200);
    ASSERT_EQ(chat(false, "no-key").status, 401);  // refused by key-auth: a request, not an error
    for (const char* id : {"ok-0", "ok-1", "ok-2", "no-key"})
        ASSERT_TRUE(recorded(id)) << id;

    auto status = statusJson();
    ASSERT_TRUE(status.is_object());
    EXPECT_EQ(status["slot_s"], 10);
    const auto& route = entry(status["routes"], "id", "chat");
    EXPECT_EQ(route["upstreams"], Json::array({"primary", "spare"}));
    EXPECT_EQ(route["requests_total"], 4);
    EXPECT_EQ(route["errors_total"], 0);
    EXPECT_EQ(route["error_rate"], 0.0);
    EXPECT_GT(route["requests_per_s"].get<double>(), 0);
    EXPECT_EQ(route["retries_per_min"], 0.0);
    // Every request is in the 15-minute chart, one bar per 10 s slot.
    EXPECT_EQ(route["chart"]["requests"].size(), 90U);
    EXPECT_EQ(sum(route["chart"]["requests"]), 4U) << route.dump();
    EXPECT_EQ(sum(route["chart"]["errors"]), 0U);
    EXPECT_TRUE(route["latency_ms"]["p50"].is_number()) << route.dump();
    EXPECT_TRUE(route["latency_ms"]["p99"].is_number());
    EXPECT_TRUE(route["ttft_ms"]["p50"].is_number()) << route.dump();
    EXPECT_GT(status["totals"]["requests_per_s"].get<double>(), 0);

    // 3 answers of 10 prompt and 5 completion tokens, at $1000 / $2000 per million.
    const auto& model = entry(status["usage"]["models"], "model", "gpt-4o-mini");
    EXPECT_EQ(model["prompt_tokens"], 30);
    EXPECT_EQ(model["completion_tokens"], 15);
    EXPECT_NEAR(model["cost_usd"].get<double>(), 0.06, 1e-9);
    const auto& alice = entry(status["usage"]["consumers"], "consumer", "alice");
    EXPECT_EQ(alice["prompt_tokens"], 30);
    EXPECT_EQ(alice["completion_tokens"], 15);
    EXPECT_NEAR(alice["cost_usd"].get<double>(), 0.06, 1e-9);

    const auto& primary = entry(status["upstreams"], "id", "primary");
    ASSERT_EQ(primary["nodes"].size(), 1U);
    EXPECT_EQ(primary["nodes"][0]["address"], backend_.address());
    EXPECT_EQ(primary["nodes"][0]["state"], "healthy");
    EXPECT_EQ(primary["nodes"][0]["in_flight"], 0);
    EXPECT_EQ(primary["nodes"][0]["last_error"], nullptr);
    EXPECT_EQ(entry(status["upstreams"], "id", "spare")["nodes"][0]["state"], "healthy");
}

TEST_F(StatusPageTest, FailingNodeShowsEjectedWithItsErrorCountdownAndTheFallback) {
    backend_.setDefault(Reply::json(500, R"({"error":{"message":"primary is broken"}})"));
    ASSERT_TRUE(start());
    // The primary's 500 ejects it (http_failures: 1) and the retry goes to the fallback.
    auto response = chat(true, "fell-back");
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_NE(response.body.find("spare"), std::string::npos) << response.body;
    ASSERT_TRUE(recorded("fell-back"));

    auto status = statusJson();
    const auto& node = entry(status["upstreams"], "id", "primary")["nodes"][0];
    EXPECT_EQ(node["state"], "ejected") << node.dump();
    EXPECT_NE(node["last_error"].get<std::string>().find("500"), std::string::npos) << node.dump();
    EXPECT_GT(node["ejection_remaining_ms"].get<int>(), 50000) << node.dump();
    EXPECT_LE(node["ejection_remaining_ms"].get<int>(), 60000) << node.dump();
    const auto& route = entry(status["routes"], "id", "chat");
    EXPECT_GT(route["retries_per_min"].get<double>(), 0) << route.dump();
    EXPECT_GT(route["fallbacks_per_min"].get<double>(), 0) << route.dump();
    EXPECT_GT(status["totals"]["fallbacks_per_min"].get<double>(), 0);
}

TEST_F(StatusPageTest, StatusPortServesTheSelfContainedPage) {
    ASSERT_TRUE(start());
    auto page = sendRequest(status_port_, {.target = "/"});
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.headers.get("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(page.headers.get("Content-Security-Policy").value_or("").find("default-src 'none'"),
              std::string::npos);
    EXPECT_NE(page.body.find("<!doctype html>"), std::string::npos);
    EXPECT_NE(page.body.find("fetch('status.json'"), std::string::npos);
    // Nothing from elsewhere: no script or style source, no https:// URL (a CDN).
    EXPECT_EQ(page.body.find("src="), std::string::npos);
    EXPECT_EQ(page.body.find("https://"), std::string::npos);
    EXPECT_EQ(sendRequest(status_port_, {.method = "POST", .target = "/"}).status, 405);
}

TEST_F(StatusPageTest, AdminServesThePageAndItsJsonOnlyWithTheKey) {
    ASSERT_TRUE(start());
    EXPECT_EQ(admin("/status", "").status, 401);
    EXPECT_EQ(admin("/status.json", "").status, 401);
    EXPECT_EQ(admin("/status", "wrong-key").status, 401);
    EXPECT_EQ(admin("/status.json?api_key=wrong-key", "").status, 401);

    auto page = admin("/status", kAdminKey);
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.headers.get("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("fetch('status.json'"), std::string::npos);
    // The page passes its ?api_key= on to status.json, which answers with it.
    auto json = admin(std::string("/status.json?api_key=") + kAdminKey, "");
    EXPECT_EQ(json.status, 200) << json.body;
    EXPECT_EQ(json.headers.get("Content-Type"), "application/json");
    auto status = Json::parse(json.body, nullptr, false);
    ASSERT_TRUE(status.is_object()) << json.body;
    EXPECT_EQ(entry(status["routes"], "id", "chat")["requests_total"], 0);
}

}  // namespace
}  // namespace aiproxy::test
