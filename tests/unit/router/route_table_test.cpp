#include "aiproxy/router/route_table.hpp"

#include <gtest/gtest.h>

namespace aiproxy::router {
namespace {

config::RouteConfig route(std::string id, std::vector<std::string> uris, int priority = 0,
                          std::vector<std::string> methods = {},
                          std::vector<std::string> hosts = {}) {
    return config::RouteConfig{.id = std::move(id),
                               .uris = std::move(uris),
                               .methods = std::move(methods),
                               .hosts = std::move(hosts),
                               .priority = priority};
}

std::string matchedId(const std::vector<config::RouteConfig>& routes, std::string_view method,
                      std::string_view host, std::string_view path) {
    RouteTable table{routes};
    auto found = table.match(method, host, path);
    return found ? routes[found->route_index].id : "none";
}

TEST(RouteTableTest, PrefixMatchesBelowTheSlashButNotTheBareWord) {
    std::vector routes{route("llm", {"/llm/*"})};
    EXPECT_EQ(matchedId(routes, "POST", "", "/llm/chat/completions"), "llm");
    EXPECT_EQ(matchedId(routes, "POST", "", "/llm/"), "llm");
    EXPECT_EQ(matchedId(routes, "POST", "", "/llm"), "none");
    EXPECT_EQ(matchedId(routes, "POST", "", "/llmx/a"), "none");
}

TEST(RouteTableTest, RestIsThePartMatchedByTheStar) {
    std::vector routes{route("llm", {"/llm/*"})};
    RouteTable table{routes};
    auto found = table.match("POST", "", "/llm/chat/completions");
    ASSERT_TRUE(found);
    EXPECT_TRUE(found->prefix);
    EXPECT_EQ(found->rest, "chat/completions");
}

TEST(RouteTableTest, ExactBeatsPrefixWhateverThePriority) {
    std::vector routes{route("prefix", {"/llm/*"}, 100), route("exact", {"/llm/models"})};
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/models"), "exact");
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/other"), "prefix");
}

TEST(RouteTableTest, LongestPrefixWinsBeforePriority) {
    std::vector routes{route("short", {"/llm/*"}, 10), route("long", {"/llm/v2/*"}, 0)};
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/v2/chat"), "long");
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/v1/chat"), "short");
}

TEST(RouteTableTest, HigherPriorityWinsForTheSameUriThenFileOrder) {
    std::vector routes{route("low", {"/llm/*"}, 1), route("high", {"/llm/*"}, 5),
                       route("high-later", {"/llm/*"}, 5)};
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/x"), "high");
}

TEST(RouteTableTest, MethodsMustMatch) {
    std::vector routes{route("post-only", {"/llm/*"}, 0, {"POST"}), route("any", {"/llm/*"}, -1)};
    EXPECT_EQ(matchedId(routes, "POST", "", "/llm/x"), "post-only");
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/x"), "any");
}

TEST(RouteTableTest, HostsMatchIgnoringCaseAndPortWithWildcards) {
    std::vector routes{route("api", {"/llm/*"}, 0, {}, {"api.example.com"}),
                       route("wild", {"/llm/*"}, -1, {}, {"*.example.org"})};
    EXPECT_EQ(matchedId(routes, "GET", "API.Example.com:9080", "/llm/x"), "api");
    EXPECT_EQ(matchedId(routes, "GET", "a.b.example.org", "/llm/x"), "wild");
    EXPECT_EQ(matchedId(routes, "GET", "example.org", "/llm/x"), "none");
    EXPECT_EQ(matchedId(routes, "GET", "other.com", "/llm/x"), "none");
    EXPECT_EQ(matchedId(routes, "GET", "", "/llm/x"), "none");
}

TEST(RouteTableTest, AnyOfSeveralUrisMatches) {
    std::vector routes{route("multi", {"/a/*", "/b"})};
    EXPECT_EQ(matchedId(routes, "GET", "", "/a/1"), "multi");
    EXPECT_EQ(matchedId(routes, "GET", "", "/b"), "multi");
    EXPECT_EQ(matchedId(routes, "GET", "", "/b/1"), "none");
}

}  // namespace
}  // namespace aiproxy::router
