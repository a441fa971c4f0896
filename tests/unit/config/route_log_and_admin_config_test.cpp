// routes[].log (what a route's access-log lines may carry) and admin.auth_failure_limit.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using namespace std::chrono_literals;
using test::messages;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

LoadResult load(const std::string& route_keys, const std::string& top_keys = "") {
    return test::loadOneRoute("", route_keys, top_keys);
}

TEST(RouteLogConfigTest, PayloadsAreOffByDefault) {
    auto result = load("");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->routes.at(0).log, RouteLogConfig{});
    EXPECT_FALSE(result.config->routes.at(0).log.payloads);
    EXPECT_EQ(result.config->routes.at(0).log.max_payload_bytes, 16384U);
}

TEST(RouteLogConfigTest, PayloadsAndTheirLimitAreRead) {
    auto result = load(R"("log": {"payloads": true, "max_payload_bytes": 100}, )");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    EXPECT_EQ(result.config->routes.at(0).log,
              (RouteLogConfig{.payloads = true, .max_payload_bytes = 100}));
}

TEST(RouteLogConfigTest, MistakesAreReportedWithTheirPaths) {
    auto result = load(R"("log": {"payloads": "yes", "max_payload_bytes": 0, "headers": true}, )");
    ASSERT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre("routes[0].log.payloads: must be a boolean",
                                                     "routes[0].log.max_payload_bytes: must be > 0",
                                                     "routes[0].log.headers: unknown key"));
}

TEST(RouteLogConfigTest, ALogThatIsNotAnObjectIsRefused) {
    auto result = load(R"("log": true, )");
    ASSERT_FALSE(result.config);
    EXPECT_THAT(messages(result.errors), ElementsAre("routes[0].log: must be an object"));
}

TEST(AuthFailureLimitConfigTest, DefaultsAreTenFailuresAMinute) {
    auto result = load("");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    const auto& limit = result.config->admin.auth_failure_limit;
    EXPECT_EQ(limit.max_failures, 10);
    EXPECT_EQ(limit.window, 60s);
    EXPECT_EQ(limit.max_tracked, 4096U);
}

TEST(AuthFailureLimitConfigTest, EveryFieldIsRead) {
    auto result = load("", R"("admin": {"auth_failure_limit": {"max_failures": 3,
        "window": 2.5, "max_tracked": 10}}, )");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->admin.auth_failure_limit,
              (AuthFailureLimitConfig{.max_failures = 3, .window = 2500ms, .max_tracked = 10}));
}

TEST(AuthFailureLimitConfigTest, MistakesAreReportedWithTheirPaths) {
    auto result = load("", R"("admin": {"auth_failure_limit": {"max_failures": 0,
        "window": -1, "max_tracked": "many", "ban": 1}}, )");
    ASSERT_FALSE(result.config);
    const std::string p = "admin.auth_failure_limit.";
    EXPECT_THAT(messages(result.errors),
                ElementsAre(p + "max_failures: must be > 0", p + "window: must be > 0",
                            p + "max_tracked: must be an integer", p + "ban: unknown key"));
}

}  // namespace
}  // namespace aiproxy::config
