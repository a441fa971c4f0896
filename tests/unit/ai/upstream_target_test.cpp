#include <gtest/gtest.h>

#include "aiproxy/ai/ai_proxy.hpp"

namespace aiproxy::ai {
namespace {

TEST(UpstreamTargetTest, PrefixRouteForwardsWhatTheStarMatchedUnderTheBasePath) {
    EXPECT_EQ(upstreamTarget("/v1", {.prefix = true, .rest = "chat/completions"},
                             "/llm/chat/completions", ""),
              "/v1/chat/completions");
}

TEST(UpstreamTargetTest, QueryStringIsKept) {
    EXPECT_EQ(upstreamTarget("/v1", {.prefix = true, .rest = "models"}, "/llm/models", "a=1&b=2"),
              "/v1/models?a=1&b=2");
}

TEST(UpstreamTargetTest, EmptyBasePathForwardsFromTheRoot) {
    EXPECT_EQ(upstreamTarget("", {.prefix = true, .rest = "v1/models"}, "/llm/v1/models", ""),
              "/v1/models");
    EXPECT_EQ(upstreamTarget("", {.prefix = true, .rest = ""}, "/llm/", ""), "/");
}

TEST(UpstreamTargetTest, ExactRouteForwardsTheWholePathUnderTheBasePath) {
    EXPECT_EQ(upstreamTarget("/openai/v1", {.prefix = false}, "/chat/completions", "x=1"),
              "/openai/v1/chat/completions?x=1");
}

}  // namespace
}  // namespace aiproxy::ai
