// Consumers and key-auth through the real binary: keys from the apikey header or an OpenAI SDK's
// Authorization header, 401s in OpenAI's shape, keys hidden from upstreams, consumers managed
// through the Admin API with only a digest stored, and the consumer in the access log.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>

#include "support/daemon.hpp"
#include "support/daemon_fixture.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "key-auth-test-admin-key-0123456789";
constexpr const char* kAliceKey = "sk-gw-alice-0123456789abcdef";

class KeyAuthTest : public DaemonFixture {
protected:
    std::string config(const std::string& key_auth = "{}") const {
        return std::string("server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 2\n") +
               "status:\n  enabled: false\n"
               "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: " +
               kAdminKey +
               "}]\n"
               "consumers:\n"
               "  - username: alice\n"
               "    labels: {team: research}\n"
               "    plugins: {key-auth: {key: \"${ALICE_KEY}\"}}\n"
               "upstreams:\n  - id: backend\n    nodes: {\"" +
               backend_.address() +
               "\": 1}\n"
               "routes:\n  - id: chat\n    uri: /llm/*\n    plugins:\n"
               "      key-auth: " +
               key_auth +
               "\n"
               "      ai-proxy: {upstream_id: backend, retry: 0}\n";
    }

    ::testing::AssertionResult start(const std::string& text) {
        daemon_.setEnvironment("ALICE_KEY", kAliceKey);
        return startDaemon(text);
    }

    Response chat(const std::string& header = "", const std::string& value = "") {
        Request request = chatRequest("/llm/chat/completions");
        if (!header.empty()) request.headers.add(header, value);
        return sendRequest(daemon_.port(), request);
    }

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return adminCall(admin_port_, kAdminKey, method, path, body);
    }

    static void expectOpenAiError(const Response& response, int status, const std::string& code) {
        EXPECT_EQ(response.status, status) << response.body;
        auto body = Json::parse(response.body, nullptr, false);
        ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
        EXPECT_EQ(body["error"]["code"], code) << response.body;
        EXPECT_TRUE(body["error"]["message"].is_string());
    }
};

TEST_F(KeyAuthTest, MissingOrWrongKeysGet401AndNeverReachTheUpstream) {
    ASSERT_TRUE(start(config()));
    expectOpenAiError(chat(), 401, "missing_api_key");
    expectOpenAiError(chat("apikey", "sk-wrong"), 401, "invalid_api_key");
    expectOpenAiError(chat("Authorization", "Bearer sk-wrong"), 401, "invalid_api_key");
    // Almost the key: one character off at the end.
    std::string near = kAliceKey;
    near.back() = near.back() == 'f' ? 'e' : 'f';
    expectOpenAiError(chat("apikey", near), 401, "invalid_api_key");
    EXPECT_EQ(backend_.requestCount(), 0U);
}

TEST_F(KeyAuthTest, TheApikeyHeaderAndABearerTokenBothWorkAndAreHidden) {
    ASSERT_TRUE(start(config()));
    auto by_header = chat("apikey", kAliceKey);
    EXPECT_EQ(by_header.status, 200) << by_header.body;
    auto by_bearer = chat("Authorization", std::string("Bearer ") + kAliceKey);
    EXPECT_EQ(by_bearer.status, 200) << by_bearer.body;
    ASSERT_EQ(backend_.requestCount(), 2U);
    for (const auto& request : backend_.requests()) {
        EXPECT_FALSE(request.headers.get("apikey")) << "the key reached the upstream";
        EXPECT_FALSE(request.headers.get("Authorization")) << "the key reached the upstream";
    }
    EXPECT_EQ(daemon_.stderrText().find(kAliceKey), std::string::npos);
    // The access log (written asynchronously) names the consumer.
    EXPECT_TRUE(daemon_.waitForStderr("\"consumer\":\"alice\""));
}

TEST_F(KeyAuthTest, ACustomHeaderWithCredentialsKeptIsForwarded) {
    ASSERT_TRUE(start(config("{header: X-Gateway-Key, hide_credentials: false}")));
    EXPECT_EQ(chat("X-Gateway-Key", kAliceKey).status, 200);
    EXPECT_EQ(backend_.requests().at(0).headers.get("X-Gateway-Key"), kAliceKey);
    expectOpenAiError(chat("apikey", kAliceKey), 401, "missing_api_key");
}

TEST_F(KeyAuthTest, ConsumersWrittenThroughTheAdminApiKeepOnlyADigest) {
    ASSERT_TRUE(start(config()));
    const std::string bob_key = "sk-gw-bob-fedcba9876543210";
    auto created =
        admin("PUT", "consumers",
              R"({"username": "bob", "plugins": {"key-auth": {"key": ")" + bob_key + R"("}}})");
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(created.body.find(bob_key), std::string::npos) << created.body;
    EXPECT_EQ(Json::parse(created.body)["value"]["username"], "bob");

    EXPECT_EQ(chat("Authorization", "Bearer " + bob_key).status, 200);
    auto shown = admin("GET", "consumers/bob");
    EXPECT_EQ(shown.status, 200);
    EXPECT_EQ(shown.body.find(bob_key), std::string::npos) << shown.body;
    EXPECT_NE(shown.body.find("***"), std::string::npos) << shown.body;

    // The state file holds the digest, never the key.
    std::string state = readFile(daemon_.configPath().parent_path() / "data" / "state.json");
    EXPECT_EQ(state.find(bob_key), std::string::npos);
    EXPECT_NE(state.find("key_sha256"), std::string::npos) << state;

    // Two consumers cannot share a key.
    auto twin = admin("PUT", "consumers/carol",
                      R"({"plugins": {"key-auth": {"key": ")" + bob_key + R"("}}})");
    EXPECT_EQ(twin.status, 400) << twin.body;
    EXPECT_NE(twin.body.find("same key-auth key"), std::string::npos) << twin.body;

    // Deleting the consumer takes its key away at once.
    EXPECT_EQ(admin("DELETE", "consumers/bob").status, 200);
    expectOpenAiError(chat("Authorization", "Bearer " + bob_key), 401, "invalid_api_key");
    EXPECT_EQ(chat("apikey", kAliceKey).status, 200);
}

// A reload applies the file's consumers, and an Admin API write afterwards (which rebuilds the
// data plane from the running configuration) keeps them.
TEST_F(KeyAuthTest, AReloadChangesTheFilesConsumersAndAdminWritesKeepTheChange) {
    const std::string carol_key = "sk-gw-carol-0123456789abcdef";
    ASSERT_TRUE(start(config()));
    ASSERT_EQ(chat("apikey", kAliceKey).status, 200);
    std::string text = config();
    text.replace(text.find("  - username: alice"), 0,
                 "  - username: carol\n    plugins: {key-auth: {key: \"" + carol_key + "\"}}\n");
    text.replace(text.find("${ALICE_KEY}"), 12, "sk-gw-alice-rotated-0123456789");

    auto from = daemon_.stderrText().size();
    daemon_.writeConfig(text);
    ASSERT_TRUE(daemon_.signal(SIGHUP));
    ASSERT_TRUE(daemon_.waitForStderr("reload done", kWaitTimeout, from));

    EXPECT_EQ(chat("apikey", carol_key).status, 200);
    expectOpenAiError(chat("apikey", kAliceKey), 401, "invalid_api_key");
    EXPECT_EQ(chat("apikey", "sk-gw-alice-rotated-0123456789").status, 200);
    ASSERT_EQ(admin("PUT", "upstreams/spare", R"({"nodes": {"127.0.0.1:9": 1}})").status, 201);
    EXPECT_EQ(chat("apikey", carol_key).status, 200);
    expectOpenAiError(chat("apikey", kAliceKey), 401, "invalid_api_key");
}

TEST_F(KeyAuthTest, RoutesWithoutKeyAuthStayOpen) {
    std::string text = config();
    text.replace(text.find("      key-auth: {}\n"), 19, "");
    ASSERT_TRUE(start(text));
    EXPECT_EQ(chat().status, 200);
}

}  // namespace
}  // namespace aiproxy::test
