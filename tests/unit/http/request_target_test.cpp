#include "aiproxy/http/request_target.hpp"

#include <gtest/gtest.h>

namespace aiproxy::http {
namespace {

std::string pathOf(std::string_view target) {
    auto parsed = parseRequestTarget(target);
    if (!parsed.problem.empty()) return "problem: " + parsed.problem;
    return parsed.normalized_path ? *parsed.normalized_path : std::string(parsed.path);
}

TEST(RequestTargetTest, AnOrdinaryTargetIsSplitWithoutCopying) {
    auto parsed = parseRequestTarget("/llm/chat/completions?a=1&b=2");
    EXPECT_EQ(parsed.path, "/llm/chat/completions");
    EXPECT_EQ(parsed.query, "a=1&b=2");
    EXPECT_FALSE(parsed.normalized_path);
    EXPECT_TRUE(parsed.problem.empty());
}

TEST(RequestTargetTest, DotSegmentsAreRemovedPercentEncodedOnesToo) {
    EXPECT_EQ(pathOf("/llm/./chat/completions"), "/llm/chat/completions");
    EXPECT_EQ(pathOf("/llm/x/../chat"), "/llm/chat");
    EXPECT_EQ(pathOf("/llm/x/%2e%2e/chat"), "/llm/chat");
    EXPECT_EQ(pathOf("/llm/x/%2E./chat"), "/llm/chat");
    EXPECT_EQ(pathOf("/llm/x/.%2e/chat"), "/llm/chat");
    EXPECT_EQ(pathOf("/llm/%2e/chat"), "/llm/chat");
    EXPECT_EQ(pathOf("/llm/chat/.."), "/llm/");
    EXPECT_EQ(pathOf("/llm/chat/."), "/llm/chat/");
    EXPECT_EQ(pathOf("/a/.."), "/");
}

TEST(RequestTargetTest, NamesThatOnlyLookLikeDotsStay) {
    EXPECT_EQ(pathOf("/llm/.well-known/x"), "/llm/.well-known/x");
    EXPECT_EQ(pathOf("/llm/...//x"), "/llm/...//x");
    EXPECT_EQ(pathOf("/llm/%2e%2e%2e"), "/llm/%2e%2e%2e");
    EXPECT_EQ(pathOf("/llm/a%2fb"), "/llm/a%2fb");
}

TEST(RequestTargetTest, APathThatClimbsAboveTheRootIsAProblem) {
    EXPECT_EQ(pathOf("/llm/../../admin"),
              "problem: the request path climbs above the root (\"..\")");
    EXPECT_EQ(pathOf("/../llm"), "problem: the request path climbs above the root (\"..\")");
    EXPECT_EQ(pathOf("/%2e%2e/x"), "problem: the request path climbs above the root (\"..\")");
}

TEST(RequestTargetTest, GatewayEscapeThroughDotsEndsOutsideThePrefix) {
    EXPECT_EQ(pathOf("/llm/../admin/secret"), "/admin/secret");
}

TEST(RequestTargetTest, AFragmentIsCutOff) {
    auto parsed = parseRequestTarget("/llm/chat/completions?x=1#frag");
    EXPECT_EQ(parsed.path, "/llm/chat/completions");
    EXPECT_EQ(parsed.query, "x=1");
    EXPECT_EQ(pathOf("/llm/chat#a/../b"), "/llm/chat");
}

TEST(RequestTargetTest, AbsoluteFormGivesItsAuthorityAndPath) {
    auto parsed = parseRequestTarget("http://api.example.com:8080/llm/chat?q=1");
    EXPECT_EQ(parsed.authority, "api.example.com:8080");
    EXPECT_EQ(parsed.path, "/llm/chat");
    EXPECT_EQ(parsed.query, "q=1");
    auto bare = parseRequestTarget("HTTPS://h");
    EXPECT_EQ(bare.authority, "h");
    EXPECT_EQ(bare.normalized_path, "/");
    EXPECT_FALSE(parseRequestTarget("http://user@h/x").problem.empty());
    EXPECT_FALSE(parseRequestTarget("http:///x").problem.empty());
}

TEST(RequestTargetTest, OtherFormsAreProblems) {
    EXPECT_FALSE(parseRequestTarget("llm/chat").problem.empty());
    EXPECT_FALSE(parseRequestTarget("").problem.empty());
    EXPECT_TRUE(parseRequestTarget("*").problem.empty());
}

}  // namespace
}  // namespace aiproxy::http
