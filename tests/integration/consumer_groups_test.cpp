// Consumer groups through the real binary: a group's limit-count is one budget for all its
// members (per member with key: consumer_name), consumers outside it are not limited, the
// route's limits come first and both quota headers go out, token budgets on a group, and groups
// managed through the Admin API (applied at once, references checked, deletion refused in use).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "support/backend_config.hpp"
#include "support/daemon.hpp"
#include "support/headers.hpp"
#include "support/http_client.hpp"
#include "support/limits_fixture.hpp"
#include "support/llm_replies.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "consumer-groups-test-admin-key-0123";
constexpr const char* kAliceKey = "sk-gw-alice-groups-0123456789";
constexpr const char* kBobKey = "sk-gw-bob-groups-9876543210";
constexpr const char* kCarolKey = "sk-gw-carol-groups-5555555555";

class ConsumerGroupsTest : public LimitsFixture {
protected:
    ConsumerGroupsTest() : LimitsFixture(kAdminKey) {}

    // Alice and Bob are in group gold (its plugins: `group_plugins`, YAML flow entries 6 spaces
    // in), Carol in no group. One key-auth route /llm/* with `route_plugins` next to ai-proxy.
    std::string config(const std::string& group_plugins,
                       const std::string& route_plugins = "") const {
        return BackendConfig{
            .backend = backend_.address(),
            .admin_key = kAdminKey,
            .workers = 2,
            .consumer_groups = "  - id: gold\n    desc: paid plan\n    plugins:\n" + group_plugins,
            .consumers = {{"alice", kAliceKey, "gold"},
                          {"bob", kBobKey, "gold"},
                          {"carol", kCarolKey}},
            .routes = backendRoute("chat", "/llm/*", "      key-auth: {}\n" + route_plugins)}
            .yaml();
    }

    // Every value of a header, in the order sent.
    static std::vector<std::string> values(const Response& response, const std::string& name) {
        std::vector<std::string> out;
        for (const auto& [field, value] : response.headers.fields()) {
            if (equalsIgnoreCase(field, name)) out.push_back(value);
        }
        return out;
    }

    // A refusal by group gold's limits.
    static void expectRateLimited(const Response& response, int status,
                                  const std::string& type = "requests") {
        test::expectRateLimited(response, status, type);
        auto body = Json::parse(response.body, nullptr, false);
        if (!body.is_object() || !body.contains("error")) return;  // reported above
        EXPECT_NE(body["error"]["message"].get<std::string>().find("consumer group gold"),
                  std::string::npos)
            << response.body;
    }
};

TEST_F(ConsumerGroupsTest, MembersShareTheGroupsCountAndOthersAreNotLimited) {
    ASSERT_TRUE(
        startWithStatusAndAdmin(config(dailyLimit("limit-count", "count: 3, rejected_code: 429"))));
    ASSERT_EQ(chat(kAliceKey).status, 200);
    ASSERT_EQ(chat(kBobKey).status, 200);
    Response third = chat(kAliceKey);
    ASSERT_EQ(third.status, 200);
    EXPECT_EQ(third.headers.get("X-RateLimit-Limit"), "3");
    EXPECT_EQ(third.headers.get("X-RateLimit-Remaining"), "0");
    // The fourth request is refused whichever member sends it, and never reaches the backend.
    Response refused = chat(kBobKey);
    expectRateLimited(refused, 429);
    EXPECT_EQ(refused.headers.get("X-RateLimit-Remaining"), "0");
    EXPECT_EQ(refused.headers.get("Retry-After"), refused.headers.get("X-RateLimit-Reset"));
    EXPECT_TRUE(refused.headers.has("X-Request-Id"));
    expectRateLimited(chat(kAliceKey), 429);
    EXPECT_EQ(backend_.requestCount(), 3U);
    // Carol is in no group: the route has no limit of its own.
    for (int i = 0; i < 4; ++i) {
        Response response = chat(kCarolKey);
        EXPECT_EQ(response.status, 200) << i;
        EXPECT_FALSE(response.headers.has("X-RateLimit-Limit")) << i;
    }
    EXPECT_EQ(backend_.requestCount(), 7U);
    EXPECT_EQ(metric(R"(aiproxy_rate_limited_total{consumer_group="gold",plugin="limit-count"})"),
              2);
}

TEST_F(ConsumerGroupsTest, KeyConsumerNameCountsPerMember) {
    ASSERT_TRUE(
        startWithStatusAndAdmin(config(dailyLimit("limit-count", "count: 1, key: consumer_name"))));
    EXPECT_EQ(chat(kAliceKey).status, 200);
    EXPECT_EQ(chat(kBobKey).status, 200);
    expectRateLimited(chat(kAliceKey), 503);
    expectRateLimited(chat(kBobKey), 503);
    EXPECT_EQ(backend_.requestCount(), 2U);
}

TEST_F(ConsumerGroupsTest, TheRoutesLimitComesFirstAndBothQuotasGoOut) {
    ASSERT_TRUE(
        startWithStatusAndAdmin(config(dailyLimit("limit-count", "count: 2, rejected_code: 429"),
                                       dailyLimit("limit-count", "count: 5, key: consumer_name"))));
    for (int i = 0; i < 2; ++i) {
        Response response = chat(kAliceKey);
        ASSERT_EQ(response.status, 200) << i;
        // The route's quota, then the group's.
        EXPECT_EQ(values(response, "X-RateLimit-Limit"), (std::vector<std::string>{"5", "2"}));
        EXPECT_EQ(values(response, "X-RateLimit-Remaining"),
                  (std::vector<std::string>{std::to_string(4 - i), std::to_string(1 - i)}));
    }
    Response refused = chat(kAliceKey);
    expectRateLimited(refused, 429);  // the group's rejected_code
    EXPECT_EQ(values(refused, "X-RateLimit-Limit"), (std::vector<std::string>{"5", "2"}));
    // The route counted the refused request before the group refused it.
    EXPECT_EQ(values(refused, "X-RateLimit-Remaining"), (std::vector<std::string>{"2", "0"}));
    EXPECT_EQ(backend_.requestCount(), 2U);
}

TEST_F(ConsumerGroupsTest, ATokenBudgetOnAGroupIsSpentByAllMembers) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(dailyLimit("ai-rate-limiting", "limit: 100"))));
    backend_.setDefault(Reply::json(200, openAiCompletion("ok", 60, 30)));
    Response first = chat(kAliceKey);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.headers.get("X-AI-RateLimit-Remaining"), "100");
    ASSERT_TRUE(accessLogged(first));
    // 90 of 100 used: Bob may still go (and overshoots the budget).
    Response second = chat(kBobKey);
    ASSERT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(second.headers.get("X-AI-RateLimit-Remaining"), "10");
    ASSERT_TRUE(accessLogged(second));
    Response refused = chat(kAliceKey);
    expectRateLimited(refused, 429, "tokens");
    EXPECT_EQ(refused.headers.get("X-AI-RateLimit-Remaining"), "0");
    EXPECT_EQ(backend_.requestCount(), 2U);
    EXPECT_EQ(chat(kCarolKey).status, 200);
    EXPECT_EQ(
        metric(R"(aiproxy_rate_limited_total{consumer_group="gold",plugin="ai-rate-limiting"})"),
        1);
}

TEST_F(ConsumerGroupsTest, GroupsManagedThroughTheAdminApiApplyAtOnce) {
    ASSERT_TRUE(startWithStatusAndAdmin(config("      {}\n")));
    const std::string dave_key = "sk-gw-dave-groups-1234567890";
    auto unknown =
        admin("PUT", "consumers/dave",
              R"({"plugins": {"key-auth": {"key": ")" + dave_key + R"("}}, "group_id": "team"})");
    EXPECT_EQ(unknown.status, 400) << unknown.body;
    EXPECT_EQ(Json::parse(unknown.body)["error_msg"],
              "invalid configuration: group_id: consumer group \"team\" does not exist");

    auto bad = admin("PUT", "consumer_groups/team",
                     R"({"plugins": {"limit-count": {"count": 2, "time_window": 60,
                                                     "key_type": "var_combination"}}})");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(Json::parse(bad.body)["error_msg"],
              "invalid configuration: plugins.limit-count.key_type: var_combination is not "
              "supported; use var or constant");

    auto group = admin(
        "PUT", "consumer_groups/team",
        std::string(R"({"plugins": {"limit-count": {"count": 2, "time_window": )") + kDay + "}}}");
    ASSERT_EQ(group.status, 201) << group.body;
    auto dave =
        admin("PUT", "consumers/dave",
              R"({"plugins": {"key-auth": {"key": ")" + dave_key + R"("}}, "group_id": "team"})");
    ASSERT_EQ(dave.status, 201) << dave.body;
    EXPECT_EQ(chat(dave_key).status, 200);
    EXPECT_EQ(chat(dave_key).status, 200);
    Response refused = chat(dave_key);
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_NE(refused.body.find("consumer group team"), std::string::npos) << refused.body;

    // Raising the group's count keeps what was counted: one more request fits.
    auto raised = admin("PATCH", "consumer_groups/team/plugins/limit-count/count", "3");
    ASSERT_EQ(raised.status, 200) << raised.body;
    EXPECT_EQ(chat(dave_key).status, 200);
    EXPECT_EQ(chat(dave_key).status, 503);

    auto in_use = admin("DELETE", "consumer_groups/team");
    EXPECT_EQ(in_use.status, 400) << in_use.body;
    EXPECT_EQ(Json::parse(in_use.body)["error_msg"],
              "can not delete this consumer group, consumer [dave] is still using it now");
    // Leaving the group lifts its limits at once; the group may then go.
    auto left = admin("PUT", "consumers/dave",
                      R"({"plugins": {"key-auth": {"key": ")" + dave_key + R"("}}})");
    ASSERT_EQ(left.status, 200) << left.body;
    EXPECT_EQ(chat(dave_key).status, 200);
    EXPECT_EQ(admin("DELETE", "consumer_groups/team").status, 200);
    EXPECT_EQ(backend_.requestCount(), 4U);
}

TEST_F(ConsumerGroupsTest, AFileGroupCannotBeChangedOrDeletedThroughTheAdminApi) {
    ASSERT_TRUE(startWithStatusAndAdmin(config("      {}\n")));
    EXPECT_EQ(admin("PUT", "consumer_groups/gold", R"({"plugins": {}})").status, 400);
    EXPECT_EQ(admin("DELETE", "consumer_groups/gold").status, 400);
    auto listed = admin("GET", "consumer_groups");
    EXPECT_EQ(listed.status, 200) << listed.body;
}

}  // namespace
}  // namespace aiproxy::test
