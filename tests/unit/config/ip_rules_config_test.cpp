// routes[].plugins.ip-restriction and server.real_ip: APISIX field names, defaults, and every
// mistake reported with its path (list entries with their index).

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

constexpr const char* kUpstreams = R"("upstreams": [{"id": "u", "nodes": {"127.0.0.1:8000": 1}}])";

// One route with ai-proxy and `plugin` (an ip-restriction object), under `server`.
LoadResult load(const std::string& plugin, const std::string& server = "{}") {
    std::string doc = std::string("{\"server\": ") + server + ", " + kUpstreams +
                      R"(, "routes": [{"id": "r", "uri": "/llm/*", "plugins": {"ai-proxy": )"
                      R"({"upstream_id": "u"})" +
                      (plugin.empty() ? "" : R"(, "ip-restriction": )" + plugin) + "}}]}";
    return parseConfig(doc, Format::Json, noEnvironment());
}

TEST(IpRulesConfigTest, WhitelistWithApisixDefaults) {
    auto result = load(R"({"whitelist": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    EXPECT_EQ(result.config->routes.at(0).ip_restriction,
              (IpRestrictionConfig{.whitelist = {"10.0.0.0/8", "192.168.1.7", "2001:db8::/32"}}));
    EXPECT_EQ(result.config->routes.at(0).ip_restriction->message,
              "Your IP address is not allowed");
    EXPECT_EQ(result.config->routes.at(0).ip_restriction->response_code, 403);
    EXPECT_FALSE(result.config->server.real_ip);
}

TEST(IpRulesConfigTest, BlacklistWithMessageAndCode) {
    auto result =
        load(R"({"blacklist": ["::1"], "message": "nope", "response_code": 451, "_meta": {}})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->routes.at(0).ip_restriction,
              (IpRestrictionConfig{.blacklist = {"::1"}, .message = "nope", .response_code = 451}));
}

TEST(IpRulesConfigTest, IpRestrictionMistakesAreReportedWithTheirPaths) {
    const std::string p = "routes[0].plugins.ip-restriction";
    auto cases = std::vector<std::pair<std::string, std::string>>{
        {R"({"whitelist": ["10.0.0.0/8", "10.0.0.1/8"]})",
         p + ".whitelist[1]: must be an IP address or CIDR range such as 10.0.0.0/8 or "
             "2001:db8::/32 (host bits zero)"},
        {R"({"blacklist": ["::1", "2001:db8::/129"]})",
         p + ".blacklist[1]: must be an IP address or CIDR range such as 10.0.0.0/8 or "
             "2001:db8::/32 (host bits zero)"},
        {R"({"whitelist": ["localhost"]})",
         p + ".whitelist[0]: must be an IP address or CIDR range such as 10.0.0.0/8 or "
             "2001:db8::/32 (host bits zero)"},
        {R"({"whitelist": [7]})", p + ".whitelist[0]: must be a string"},
        {R"({"whitelist": []})", p + ".whitelist: must not be empty"},
        {R"({"whitelist": "10.0.0.0/8"})", p + ".whitelist: must be a list"},
        {R"({"whitelist": ["10.0.0.0/8"], "blacklist": ["::1"]})",
         p + ".blacklist: cannot be used together with whitelist"},
        {R"({})", p + ": needs whitelist or blacklist"},
        {R"({"whitelist": ["10.0.0.0/8"], "message": ""})",
         p + ".message: must be 1 to 1024 characters"},
        {R"({"whitelist": ["10.0.0.0/8"], "response_code": 200})",
         p + ".response_code: must be >= 400"},
        {R"({"whitelist": ["10.0.0.0/8"], "response_code": 600})",
         p + ".response_code: must be <= 599"},
        {R"({"whitelist": ["10.0.0.0/8"], "allow": true})", p + ".allow: unknown key"},
        {R"(["10.0.0.0/8"])", p + ": must be an object"},
    };
    for (const auto& [plugin, expected] : cases) {
        auto result = load(plugin);
        EXPECT_FALSE(result.config) << plugin;
        EXPECT_THAT(messages(result.errors), ElementsAre(expected)) << plugin;
    }
}

TEST(IpRulesConfigTest, RealIpWithDefaults) {
    auto result = load("", R"({"real_ip": {"trusted_addresses": ["127.0.0.1", "10.0.0.0/8"]}})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->server.real_ip,
              (RealIpConfig{.header = "X-Forwarded-For",
                            .trusted_addresses = {"127.0.0.1", "10.0.0.0/8"},
                            .recursive = true}));
}

TEST(IpRulesConfigTest, RealIpWithEveryField) {
    auto result = load("", R"({"real_ip": {"header": "X-Real-IP", "recursive": false,
                                "trusted_addresses": ["::1/128"]}})");
    ASSERT_TRUE(result.config) << messages(result.errors).front();
    EXPECT_EQ(result.config->server.real_ip,
              (RealIpConfig{
                  .header = "X-Real-IP", .trusted_addresses = {"::1/128"}, .recursive = false}));
}

TEST(IpRulesConfigTest, RealIpMistakesAreReportedWithTheirPaths) {
    const std::string p = "server.real_ip";
    auto cases = std::vector<std::pair<std::string, std::string>>{
        {R"({})", p + ".trusted_addresses: required"},
        {R"({"trusted_addresses": []})", p + ".trusted_addresses: must not be empty"},
        {R"({"trusted_addresses": ["127.0.0.1", "10.0.0.0/33"]})",
         p + ".trusted_addresses[1]: must be an IP address or CIDR range such as 10.0.0.0/8 or "
             "2001:db8::/32 (host bits zero)"},
        {R"({"trusted_addresses": ["127.0.0.1"], "header": "X Forwarded"})",
         p + ".header: must be a header name such as X-Forwarded-For or X-Real-IP"},
        {R"({"trusted_addresses": ["127.0.0.1"], "header": ""})",
         p + ".header: must be a header name such as X-Forwarded-For or X-Real-IP"},
        {R"({"trusted_addresses": ["127.0.0.1"], "recursive": "yes"})",
         p + ".recursive: must be a boolean"},
        {R"({"trusted_addresses": ["127.0.0.1"], "source": "x"})", p + ".source: unknown key"},
        {R"(true)", p + ": must be an object"},
    };
    for (const auto& [real_ip, expected] : cases) {
        auto result = load("", R"({"real_ip": )" + real_ip + "}");
        EXPECT_FALSE(result.config) << real_ip;
        EXPECT_THAT(messages(result.errors), ElementsAre(expected)) << real_ip;
    }
}

}  // namespace
}  // namespace aiproxy::config
