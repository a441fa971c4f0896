// consumer_groups[] and consumers[].group_id: APISIX's shape, the route readers' messages for
// the traffic plugins, the group-wide default key, and every reference mistake with its path.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using test::messages;
using test::noEnvironment;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// `groups` and `consumers` are the JSON lists' contents.
LoadResult load(const std::string& groups, const std::string& consumers = "") {
    std::string doc = R"({"consumer_groups": [)" + groups + R"(], "consumers": [)" + consumers +
                      R"(], "upstreams": [{"id": "u", "nodes": {"127.0.0.1:8000": 1}}],
        "routes": [{"id": "r", "uri": "/llm/*",
                    "plugins": {"key-auth": {}, "ai-proxy": {"upstream_id": "u"}}}]})";
    return parseConfig(doc, Format::Json, noEnvironment());
}

TEST(ConsumerGroupsConfigTest, AGroupWithEachPluginAndAMember) {
    auto result = load(
        R"({"id": "gold", "desc": "paid plan", "labels": {"tier": "1"},
            "plugins": {"limit-count": {"count": 3, "time_window": 60, "group": "grp_gold"},
                        "limit-req": {"rate": 2, "burst": 1, "key": "consumer_name"},
                        "ai-rate-limiting": {"limit": 1000, "time_window": 3600}}})",
        R"({"username": "alice", "plugins": {"key-auth": {"key": "k1"}}, "group_id": "gold"})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    ASSERT_EQ(result.config->consumer_groups.size(), 1u);
    const auto& group = result.config->consumer_groups[0];
    EXPECT_EQ(group.id, "gold");
    EXPECT_EQ(group.labels, (StringPairs{{"tier", "1"}}));
    // A key that is not named is the group's: one budget for every member.
    EXPECT_EQ(group.limit_count->key, (LimitKey{.type = "constant", .var = ""}));
    EXPECT_EQ(group.limit_count->count, 3);
    EXPECT_EQ(group.limit_req->key, (LimitKey{.type = "var", .var = "consumer_name"}));
    EXPECT_EQ(group.ai_rate_limiting->key.type, "constant");
    EXPECT_EQ(result.config->consumers.at(0).group_id, "gold");
}

TEST(ConsumerGroupsConfigTest, AnExplicitKeyTypeIsKept) {
    auto result = load(R"({"id": "g", "plugins": {"limit-count": {"count": 1, "time_window": 1,
                           "key_type": "var", "key": "remote_addr"}}})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->consumer_groups.at(0).limit_count->key,
              (LimitKey{.type = "var", .var = "remote_addr"}));
}

TEST(ConsumerGroupsConfigTest, PluginErrorsAreTheRoutesMessagesUnderTheGroupsPath) {
    auto result = load(
        R"({"id": "g", "plugins": {"limit-count": {"count": 0, "time_window": 60},
            "limit-req": {"burst": 1},
            "ai-rate-limiting": {"limit": 10, "time_window": 60, "limit_strategy": "words"}}})");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors),
                ElementsAre("consumer_groups[0].plugins.limit-count.count: must be > 0",
                            "consumer_groups[0].plugins.limit-req.rate: required",
                            "consumer_groups[0].plugins.ai-rate-limiting.limit_strategy: must be "
                            "total_tokens, prompt_tokens, completion_tokens or cost"));
}

TEST(ConsumerGroupsConfigTest, UnknownPluginsAreErrorsAsOnRoutes) {
    auto result = load(R"({"id": "g", "plugins": {"proxy-rewrite": {}}})");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors),
                ElementsAre("consumer_groups[0].plugins.proxy-rewrite: unknown plugin "
                            "[proxy-rewrite]"));
}

TEST(ConsumerGroupsConfigTest, GroupShapeErrors) {
    auto result = load(R"({"plugins": {}}, {"id": "a"}, {"id": "a"}, {"id": "b", "nodes": 1},
                          {"id": ""}, "x")");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre("consumer_groups[0].id: required",
                                                     "consumer_groups[2].id: duplicate id \"a\"",
                                                     "consumer_groups[3].nodes: unknown key",
                                                     "consumer_groups[4].id: must not be empty",
                                                     "consumer_groups[5]: must be an object"));
}

TEST(ConsumerGroupsConfigTest, GroupIdMustNameAGroupOfTheFile) {
    auto result = load(R"({"id": "gold"})",
                       R"({"username": "alice", "group_id": "silver"},
                          {"username": "bob", "group_id": ["gold"]})");
    EXPECT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors),
                ElementsAre("consumers[0].group_id: consumer group \"silver\" does not exist",
                            "consumers[1].group_id: must be a string or an integer"));
}

TEST(ConsumerGroupsConfigTest, GroupIdMayComeBeforeTheGroupsInTheFile) {
    std::string doc = R"({"consumers": [{"username": "alice", "group_id": 7}],
                          "consumer_groups": [{"id": 7}]})";
    auto result = parseConfig(doc, Format::Json, noEnvironment());
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->consumers.at(0).group_id, "7");
}

TEST(ConsumerGroupsConfigTest, LimitCountGroupIsStillAnErrorOnRoutes) {
    std::string doc = R"({"upstreams": [{"id": "u", "nodes": {"127.0.0.1:8000": 1}}],
        "routes": [{"id": "r", "uri": "/llm/*", "plugins": {"ai-proxy": {"upstream_id": "u"},
                    "limit-count": {"count": 1, "time_window": 1, "group": "g"}}}]})";
    auto result = parseConfig(doc, Format::Json, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("routes[0].plugins.limit-count.group: group is not supported; "
                            "counters are per route"));
}

}  // namespace
}  // namespace aiproxy::config
