#include "support/limits_fixture.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::test {

std::string dailyLimit(const std::string& plugin, const std::string& fields) {
    return "      " + plugin + ": {" + fields + ", time_window: " + kDay + "}\n";
}

void expectRateLimited(const Response& response, int status, const std::string& type) {
    EXPECT_EQ(response.status, status) << response.body << response.error;
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
    EXPECT_EQ(body["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(body["error"]["type"], type);
    auto retry_after = response.headers.get("Retry-After");
    ASSERT_TRUE(retry_after) << "no Retry-After";
    EXPECT_GE(std::stoi(*retry_after), 1);
}

Response LimitsFixture::chat(const std::string& apikey) {
    Request request = chatRequest("/llm/chat/completions");
    if (!apikey.empty()) request.headers.add("apikey", apikey);
    return sendRequest(daemon_.port(), request);
}

Response LimitsFixture::admin(const std::string& method, const std::string& path,
                              const std::string& body) {
    return adminCall(admin_port_, admin_key_, method, path, body);
}

::testing::AssertionResult LimitsFixture::accessLogged(const Response& response) {
    auto id = response.headers.get("X-Request-Id").value_or("?");
    if (daemon_.waitForStderr(R"("request_id":")" + id + "\"")) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no access-log line for request " << id;
}

}  // namespace aiproxy::test
