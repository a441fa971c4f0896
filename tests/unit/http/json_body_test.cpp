// JsonBody: parsed at most once, only on demand, never throws, refuses deep nesting.

#include "aiproxy/http/json_body.hpp"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiproxy/http/http_session.hpp"

namespace aiproxy::http {
namespace {

TEST(JsonBodyTest, ParsesAJsonBodyOnceAndCachesIt) {
    JsonBody body;
    EXPECT_FALSE(body.attempted());
    const nlohmann::json* first = body.get("application/json", R"({"model":"gpt-4o"})");
    ASSERT_NE(first, nullptr);
    EXPECT_EQ((*first)["model"], "gpt-4o");
    EXPECT_TRUE(body.attempted());
    // Later calls return the first result, whatever they are given.
    EXPECT_EQ(body.get("text/plain", "{}"), first);
}

TEST(JsonBodyTest, NotJsonIsNullAndStaysNull) {
    JsonBody body;
    EXPECT_EQ(body.get("application/json", R"({"model":)"), nullptr);
    EXPECT_TRUE(body.attempted());
    EXPECT_EQ(body.get("application/json", R"({"model":"x"})"), nullptr);
}

TEST(JsonBodyTest, AJsonLookingBodyIsParsedWhateverItsContentType) {
    JsonBody form;  // curl -d '{...}' sends application/x-www-form-urlencoded
    EXPECT_NE(form.get("application/x-www-form-urlencoded", " \n[1, 2]"), nullptr);
    JsonBody none;
    EXPECT_NE(none.get("", R"({"a":1})"), nullptr);
}

TEST(JsonBodyTest, OtherBodiesAreNotParsedUnlessTheContentTypeSaysJson) {
    JsonBody text;
    EXPECT_EQ(text.get("text/plain", "42"), nullptr);
    JsonBody json;
    const nlohmann::json* number = json.get("application/json; charset=utf-8", "42");
    ASSERT_NE(number, nullptr);
    EXPECT_EQ(*number, 42);
}

TEST(JsonBodyTest, RecognisesJsonContentTypes) {
    EXPECT_TRUE(isJsonContentType("application/json"));
    EXPECT_TRUE(isJsonContentType("Application/JSON ; charset=UTF-8"));
    EXPECT_TRUE(isJsonContentType("application/vnd.api+json"));
    EXPECT_FALSE(isJsonContentType("application/jsonx"));
    EXPECT_FALSE(isJsonContentType("text/plain"));
    EXPECT_FALSE(isJsonContentType("+json"));
    EXPECT_FALSE(isJsonContentType(""));
}

TEST(JsonBodyTest, NestingDeeperThanTheLimitIsNotJson) {
    auto nested = [](std::size_t depth) {
        return std::string(depth, '[') + std::string(depth, ']');
    };
    JsonBody at_limit;
    EXPECT_NE(at_limit.get("application/json", nested(JsonBody::kMaxDepth)), nullptr);
    JsonBody over;
    EXPECT_EQ(over.get("application/json", nested(JsonBody::kMaxDepth + 1)), nullptr);
    JsonBody hostile;
    EXPECT_EQ(hostile.get("application/json", std::string(1'000'000, '[')), nullptr);
    // Brackets inside strings do not count.
    JsonBody in_string;
    std::string text = R"({"a":")" + std::string(1000, '[') + R"(\"]"})";
    EXPECT_NE(in_string.get("application/json", text), nullptr);
}

TEST(JsonBodyTest, NestingCountsOnlyBracketsOutsideStrings) {
    EXPECT_FALSE(nestsDeeperThan(R"([{"a":[]}])", 3));
    EXPECT_TRUE(nestsDeeperThan(R"([{"a":[[]]}])", 3));
    EXPECT_FALSE(nestsDeeperThan(R"(["[[[", "\"[[[", {"k[[":"]]]"}])", 2));
    EXPECT_FALSE(nestsDeeperThan("]]]][[", 2));  // stray closers do not buy depth
    EXPECT_TRUE(nestsDeeperThan("]]]][[[", 2));
}

TEST(JsonBodyTest, InvalidUtf8DoesNotThrow) {
    JsonBody body;
    EXPECT_EQ(body.get("application/json", "{\"a\":\"\xff\xfe\"}"), nullptr);
}

TEST(JsonBodyTest, AClientRequestParsesNothingUntilAsked) {
    ClientRequest request;
    request.message.set(bhttp::field::content_type, "application/json");
    request.message.body() = R"({"model":"local-llama"})";
    EXPECT_FALSE(request.json_body.attempted());
    const nlohmann::json* parsed = request.jsonBody();
    ASSERT_NE(parsed, nullptr);
    EXPECT_EQ((*parsed)["model"], "local-llama");
    EXPECT_EQ(request.jsonBody(), parsed);
}

}  // namespace
}  // namespace aiproxy::http
