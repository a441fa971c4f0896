#include "aiproxy/ai/error_answer.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace aiproxy::ai {
namespace {

TEST(ErrorAnswerTest, OpenAiClientsGetTheOpenAiShape) {
    auto response = errorAnswer(ClientApi::OpenAiChat, 401, "Invalid API key",
                                "invalid_request_error", "invalid_api_key");
    EXPECT_EQ(response.result_int(), 401u);
    EXPECT_EQ(response[http::bhttp::field::content_type], "application/json");
    auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"]["message"], "Invalid API key");
    EXPECT_EQ(body["error"]["type"], "invalid_request_error");
    EXPECT_EQ(body["error"]["code"], "invalid_api_key");
    EXPECT_EQ(response[http::bhttp::field::content_length], std::to_string(response.body().size()));
}

TEST(ErrorAnswerTest, AnthropicClientsGetTheAnthropicShape) {
    auto response = errorAnswer(ClientApi::AnthropicMessages, 429, "Too many requests", "requests",
                                "rate_limit_exceeded");
    EXPECT_EQ(response.result_int(), 429u);
    auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["type"], "error");
    EXPECT_EQ(body["error"]["type"], "rate_limit_error");
    EXPECT_EQ(body["error"]["message"], "Too many requests");
}

TEST(ErrorAnswerTest, OtherEndpointsGetTheOpenAiShape) {
    auto response =
        errorAnswer(ClientApi::OpenAiOther, 504, "late", "timeout_error", "upstream_timeout");
    auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"]["code"], "upstream_timeout");
}

}  // namespace
}  // namespace aiproxy::ai
