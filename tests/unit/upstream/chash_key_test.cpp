#include "aiproxy/upstream/chash_key.hpp"

#include <gtest/gtest.h>

#include <map>

namespace aiproxy::upstream {
namespace {

struct Request {
    std::map<std::string, std::string> headers;  // lower-case names

    RequestFacts facts() const {
        return RequestFacts{.remote_addr = "192.0.2.7",
                            .uri = "/llm/chat/completions",
                            .query = "user=alice%20b&model=gpt+4&flag",
                            .header = [this](std::string_view name) -> std::string_view {
                                std::string lower{name};
                                for (char& c : lower)
                                    c = static_cast<char>(std::tolower(c));
                                auto it = headers.find(lower);
                                return it == headers.end() ? std::string_view{}
                                                           : std::string_view{it->second};
                            },
                            .consumer = "team-a"};
    }
};

std::string keyFor(std::string hash_on, std::string key, const Request& request = {}) {
    config::UpstreamConfig upstream;
    upstream.type = "chash";
    upstream.hash_on = std::move(hash_on);
    upstream.key = std::move(key);
    return chashKey(upstream, request.facts());
}

TEST(ChashKeyTest, VarsNameOneRequestVariable) {
    Request request{.headers = {{"x-session-id", "s-42"},
                                {"host", "API.Example.com:8443"},
                                {"cookie", "a=1; sid=\"xyz\""}}};
    EXPECT_EQ(keyFor("vars", "remote_addr", request), "192.0.2.7");
    EXPECT_EQ(keyFor("vars", "$remote_addr", request), "192.0.2.7");
    EXPECT_EQ(keyFor("vars", "uri", request), "/llm/chat/completions");
    EXPECT_EQ(keyFor("vars", "request_uri", request),
              "/llm/chat/completions?user=alice%20b&model=gpt+4&flag");
    EXPECT_EQ(keyFor("vars", "arg_user", request), "alice b");
    EXPECT_EQ(keyFor("vars", "arg_model", request), "gpt 4");
    EXPECT_EQ(keyFor("vars", "http_x_session_id", request), "s-42");
    EXPECT_EQ(keyFor("vars", "cookie_sid", request), "xyz");
    EXPECT_EQ(keyFor("vars", "host", request), "api.example.com");
    EXPECT_EQ(keyFor("vars", "consumer_name", request), "team-a");
}

TEST(ChashKeyTest, HeaderCookieAndConsumer) {
    Request request{.headers = {{"x-user", "u1"}, {"cookie", "session=abc; theme=dark"}}};
    EXPECT_EQ(keyFor("header", "X-User", request), "u1");
    EXPECT_EQ(keyFor("cookie", "theme", request), "dark");
    EXPECT_EQ(keyFor("consumer", "", request), "team-a");
}

TEST(ChashKeyTest, VarsCombinationsFillATemplate) {
    Request request{.headers = {{"x-user", "u1"}}};
    EXPECT_EQ(keyFor("vars_combinations", "$http_x_user-$arg_user:$nope$", request),
              "u1-alice b:$");
}

TEST(ChashKeyTest, AnEmptyKeyFallsBackToTheClientAddress) {
    EXPECT_EQ(keyFor("header", "X-Missing"), "192.0.2.7");
    EXPECT_EQ(keyFor("vars", "arg_absent"), "192.0.2.7");
    EXPECT_EQ(keyFor("vars", "no_such_variable"), "192.0.2.7");
    EXPECT_EQ(keyFor("cookie", "sid"), "192.0.2.7");
    config::UpstreamConfig upstream;
    upstream.hash_on = "consumer";
    EXPECT_EQ(chashKey(upstream, RequestFacts{.remote_addr = "::1"}), "::1");
}

TEST(ChashKeyTest, QueryArgumentsAndCookiesAreParsedStrictly) {
    EXPECT_EQ(queryArgument("a=1&ab=2&b=%41%zz", "ab"), "2");
    EXPECT_EQ(queryArgument("a=1&ab=2&b=%41%zz", "b"), "A%zz");
    EXPECT_EQ(queryArgument("flag&x=", "flag"), "");
    EXPECT_EQ(queryArgument("a%5Fb=ok", "a_b"), "ok");
    EXPECT_EQ(cookieValue("a=1;b=2 ;  c = 3", "c"), "3");
    EXPECT_EQ(cookieValue("ab=1; b=2", "b"), "2");
    EXPECT_EQ(cookieValue("novalue; b", "b"), "");
}

}  // namespace
}  // namespace aiproxy::upstream
