// ip-restriction and server.real_ip through the real binary: refused addresses get an OpenAI-style
// error before key-auth and the limits and never reach the upstream; behind a trusted proxy the
// client named in X-Forwarded-For is the one checked, routed, counted and logged, while the
// upstream still sees the whole chain; IPv6 listeners; routes written through the Admin API.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <optional>
#include <string>

#include "support/backend_config.hpp"
#include "support/daemon.hpp"
#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "ip-rules-test-admin-key-0123456789";
constexpr const char* kAliceKey = "sk-gw-alice-ip-rules-0123456789";

class IpRulesTest : public DaemonFixture {
protected:
    // `routes`: backendRoute() entries. `server_extra`: YAML lines under server (2 spaces in),
    // e.g. real_ip.
    std::string config(const std::string& routes, const std::string& server_extra = "",
                       const std::string& listen = "127.0.0.1:0") const {
        return BackendConfig{.backend = backend_.address(),
                             .admin_key = kAdminKey,
                             .listen = listen,
                             .server_extra = server_extra,
                             .consumers = {{"alice", kAliceKey}},
                             .routes = routes}
            .yaml();
    }

    // A chat completion to `target`, with X-Forwarded-For when `forwarded` is set.
    Response chat(const std::string& target = "/llm/chat/completions",
                  const std::optional<std::string>& forwarded = std::nullopt,
                  const std::string& request_id = "") {
        Request request = chatRequest(target);
        if (forwarded) request.headers.add("X-Forwarded-For", *forwarded);
        if (!request_id.empty()) request.headers.add("X-Request-Id", request_id);
        return sendRequest(daemon_.port(), request);
    }

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return adminCall(admin_port_, kAdminKey, method, path, body);
    }

    std::optional<Json> logLine(const std::string& request_id) {
        return accessLogLine(daemon_, request_id);
    }

    static void expectRefused(const Response& response, int status = 403,
                              const std::string& message = "Your IP address is not allowed") {
        EXPECT_EQ(response.status, status) << response.body << response.error;
        auto body = Json::parse(response.body, nullptr, false);
        ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
        EXPECT_EQ(body["error"]["message"], message);
        EXPECT_EQ(body["error"]["type"], "invalid_request_error");
        EXPECT_EQ(body["error"]["code"], "ip_not_allowed");
        EXPECT_TRUE(response.headers.has("X-Request-Id"));
    }
};

TEST_F(IpRulesTest, AWhitelistLetsListedAddressesInAndRefusesOthersBeforeTheUpstream) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        backendRoute("open", "/open/*", "      ip-restriction: {whitelist: [\"127.0.0.0/8\"]}\n") +
        backendRoute("closed", "/llm/*",
                     "      ip-restriction: {whitelist: [\"10.0.0.0/8\"]}\n"))));
    EXPECT_EQ(chat("/open/chat/completions").status, 200);
    auto refused = chat("/llm/chat/completions", std::nullopt, "ip-refused-1");
    expectRefused(refused);
    EXPECT_EQ(refused.headers.get("X-Request-Id"), "ip-refused-1");
    EXPECT_EQ(backend_.requestCount(), 1U);  // only the allowed request
    EXPECT_EQ(metric(R"(aiproxy_ip_restriction_rejected_total{route="closed"})"), 1);
    EXPECT_EQ(metric(R"(aiproxy_ip_restriction_rejected_total{route="open"})"), 0);

    auto line = logLine("ip-refused-1");
    ASSERT_TRUE(line);
    EXPECT_EQ((*line)["status"], 403);
    EXPECT_EQ((*line)["route"], "closed");
    EXPECT_EQ((*line)["client"], "127.0.0.1");
    EXPECT_EQ((*line)["peer"], "127.0.0.1");
    EXPECT_TRUE((*line)["upstream"].is_null());
}

TEST_F(IpRulesTest, ABlacklistWithItsOwnMessageAndStatus) {
    ASSERT_TRUE(startWithStatusAndAdmin(
        config(backendRoute("blocked", "/llm/*",
                            "      ip-restriction: {blacklist: [\"10.0.0.0/8\", \"127.0.0.1\"], "
                            "message: \"Not from here\", response_code: 451}\n") +
               backendRoute("other", "/other/*",
                            "      ip-restriction: {blacklist: [\"10.0.0.0/8\"]}\n"))));
    expectRefused(chat(), 451, "Not from here");
    EXPECT_EQ(chat("/other/chat/completions").status, 200);
    EXPECT_EQ(backend_.requestCount(), 1U);
}

TEST_F(IpRulesTest, RefusedAddressesAreCheckedBeforeKeyAuthAndUseNoRateBudget) {
    // Behind a trusted proxy on loopback, so one test client can be several addresses.
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        backendRoute("chat", "/llm/*",
                     "      ip-restriction: {blacklist: [\"203.0.113.0/24\"]}\n"
                     "      key-auth: {}\n"
                     "      limit-count: {count: 1, time_window: 86400, key: consumer_name}\n"),
        "  real_ip: {trusted_addresses: [\"127.0.0.1\"]}\n")));
    auto as = [&](const std::string& forwarded, bool with_key) {
        Request request = chatRequest("/llm/chat/completions");
        request.headers.add("X-Forwarded-For", forwarded);
        if (with_key) request.headers.add("apikey", kAliceKey);
        return sendRequest(daemon_.port(), request);
    };
    expectRefused(as("203.0.113.7", false));  // 403, not key-auth's 401
    expectRefused(as("203.0.113.7", true));
    expectRefused(as("203.0.113.8", true));
    EXPECT_EQ(as("198.51.100.1", true).status, 200);  // alice's one request is still unused
    EXPECT_EQ(as("198.51.100.1", true).status, 503);  // and now it is
    EXPECT_EQ(backend_.requestCount(), 1U);
}

TEST_F(IpRulesTest, IPv6ClientsOnAnIPv6Listener) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        backendRoute("v6", "/llm/*", "      ip-restriction: {whitelist: [\"::1/128\"]}\n") +
            backendRoute("doc", "/doc/*",
                         "      ip-restriction: {whitelist: [\"2001:db8::/32\"]}\n") +
            backendRoute("v4", "/v4/*", "      ip-restriction: {blacklist: [\"127.0.0.0/8\"]}\n"),
        "", "[::1]:0")));
    auto over_v6 = [&](const std::string& target) {
        Request request = chatRequest(target);
        request.address = "::1";
        request.headers.add("X-Request-Id", "v6" + target.substr(0, target.find('/', 1)));
        return sendRequest(daemon_.port(), request);
    };
    EXPECT_EQ(over_v6("/llm/chat/completions").status, 200);
    expectRefused(over_v6("/doc/chat/completions"));
    EXPECT_EQ(over_v6("/v4/chat/completions").status, 200);  // IPv4 ranges never hold ::1
    EXPECT_EQ(backend_.requestCount(), 2U);
    auto line = logLine("v6/llm");
    ASSERT_TRUE(line);
    EXPECT_EQ((*line)["client"], "::1");
}

TEST_F(IpRulesTest, ATrustedProxyNamesTheClientEverywhere) {
    ASSERT_TRUE(startWithStatusAndAdmin(
        config(backendRoute("chat", "/llm/*",
                            "      ip-restriction: {whitelist: [\"203.0.113.0/24\"]}\n") +
                   backendRoute("vars", "/vars/*", "",
                                "    vars: [[\"remote_addr\", \"ipmatch\", \"203.0.113.0/24\"]]\n"),
               "  real_ip: {trusted_addresses: [\"127.0.0.1\", \"10.0.0.0/8\"]}\n")));
    auto allowed = chat("/llm/chat/completions", "203.0.113.7", "real-ip-1");
    EXPECT_EQ(allowed.status, 200) << allowed.body;
    expectRefused(chat());  // no header: the peer 127.0.0.1 is the client
    ASSERT_EQ(backend_.requestCount(), 1U);
    // The upstream sees the chain with the TCP peer appended, as without real_ip.
    EXPECT_EQ(backend_.requests()[0].headers.get("X-Forwarded-For"), "203.0.113.7, 127.0.0.1");

    auto line = logLine("real-ip-1");
    ASSERT_TRUE(line);
    EXPECT_EQ((*line)["client"], "203.0.113.7");
    EXPECT_EQ((*line)["peer"], "127.0.0.1");

    // Several header lines read as one list, in order.
    Request two_lines = chatRequest("/llm/chat/completions");
    two_lines.headers.add("X-Forwarded-For", "198.51.100.1");
    two_lines.headers.add("X-Forwarded-For", "203.0.113.8");
    EXPECT_EQ(sendRequest(daemon_.port(), two_lines).status, 200);
    ASSERT_EQ(backend_.requestCount(), 2U);
    // ...and go upstream as one list, none of them lost.
    EXPECT_EQ(backend_.requests()[1].headers.get("X-Forwarded-For"),
              "198.51.100.1, 203.0.113.8, 127.0.0.1");

    // Route vars see the resolved address too.
    EXPECT_EQ(chat("/vars/chat/completions", "203.0.113.9").status, 200);
    EXPECT_EQ(chat("/vars/chat/completions").status, 404);
}

TEST_F(IpRulesTest, AnUntrustedPeerCannotNameAClient) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        backendRoute("chat", "/llm/*", "      ip-restriction: {whitelist: [\"203.0.113.0/24\"]}\n"),
        "  real_ip: {trusted_addresses: [\"10.0.0.0/8\"]}\n")));
    expectRefused(chat("/llm/chat/completions", "203.0.113.7"));
    EXPECT_EQ(backend_.requestCount(), 0U);
}

TEST_F(IpRulesTest, TheRecursiveWalkSkipsTrustedProxiesButNotSpoofedEntries) {
    const std::string chain = "198.51.100.1, 203.0.113.7, 127.0.0.5";
    ASSERT_TRUE(startWithStatusAndAdmin(
        config(backendRoute("chat", "/llm/*",
                            "      ip-restriction: {whitelist: [\"203.0.113.0/24\"]}\n") +
                   backendRoute("spoof", "/spoof/*",
                                "      ip-restriction: {whitelist: [\"198.51.100.0/24\"]}\n"),
               "  real_ip: {trusted_addresses: [\"127.0.0.0/8\"]}\n")));
    EXPECT_EQ(chat("/llm/chat/completions", chain).status, 200);
    // The leftmost entry is whatever the client wrote: never the client here.
    expectRefused(chat("/spoof/chat/completions", chain));
    // Garbage ends the walk: the last good address (the trusted 127.0.0.5) is refused.
    expectRefused(chat("/llm/chat/completions", "203.0.113.7, garbage, 127.0.0.5"));
    EXPECT_EQ(backend_.requestCount(), 1U);
}

TEST_F(IpRulesTest, WithoutRecursionTheLastEntryIsTheClient) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        backendRoute("chat", "/llm/*", "      ip-restriction: {whitelist: [\"203.0.113.0/24\"]}\n"),
        "  real_ip: {header: X-Real-IP, recursive: false, trusted_addresses: [\"127.0.0.1\"]}\n")));
    Request request = chatRequest("/llm/chat/completions");
    request.headers.add("X-Real-IP", "203.0.113.7");
    EXPECT_EQ(sendRequest(daemon_.port(), request).status, 200);
    // X-Forwarded-For is not the configured header: ignored.
    expectRefused(chat("/llm/chat/completions", "203.0.113.7"));
    Request proxied = chatRequest("/llm/chat/completions");
    proxied.headers.add("X-Real-IP", "203.0.113.7, 127.0.0.5");
    expectRefused(sendRequest(daemon_.port(), proxied));
}

TEST_F(IpRulesTest, AReloadAppliesRealIpAndAdminWritesKeepIt) {
    const std::string routes =
        backendRoute("chat", "/llm/*", "      ip-restriction: {whitelist: [\"203.0.113.0/24\"]}\n");
    ASSERT_TRUE(startWithStatusAndAdmin(
        config(routes, "  real_ip: {trusted_addresses: [\"10.0.0.0/8\"]}\n")));
    expectRefused(chat("/llm/chat/completions", "203.0.113.7"));

    auto from = daemon_.stderrText().size();
    daemon_.writeConfig(config(routes, "  real_ip: {trusted_addresses: [\"127.0.0.1\"]}\n"));
    ASSERT_TRUE(daemon_.signal(SIGHUP));
    ASSERT_TRUE(daemon_.waitForStderr("reload done", kWaitTimeout, from));
    EXPECT_EQ(daemon_.stderrText().find("only after a restart", from), std::string::npos);
    EXPECT_EQ(chat("/llm/chat/completions", "203.0.113.7").status, 200);

    // An admin write rebuilds the snapshot from the file's settings: the reloaded ones.
    ASSERT_EQ(admin("PUT", "routes/other", R"({"uri": "/other/*",
                    "plugins": {"ai-proxy": {"upstream_id": "backend"}}})")
                  .status,
              201);
    EXPECT_EQ(chat("/llm/chat/completions", "203.0.113.7").status, 200);
}

TEST_F(IpRulesTest, RoutesWrittenThroughTheAdminApi) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(backendRoute("file", "/file/*", ""))));
    auto created = admin("PUT", "routes/guarded",
                         R"({"uri": "/llm/*", "plugins": {"ai-proxy": {"upstream_id": "backend"},
                             "ip-restriction": {"whitelist": ["10.0.0.0/8", "2001:db8::/32"]}}})");
    ASSERT_EQ(created.status, 201) << created.body;
    expectRefused(chat());
    EXPECT_EQ(backend_.requestCount(), 0U);

    auto opened =
        admin("PATCH", "routes/guarded/plugins/ip-restriction/whitelist", R"(["127.0.0.1"])");
    ASSERT_EQ(opened.status, 200) << opened.body;
    EXPECT_EQ(chat().status, 200);

    auto invalid = admin("PUT", "routes/bad",
                         R"({"uri": "/bad/*", "plugins": {"ai-proxy": {"upstream_id": "backend"},
                             "ip-restriction": {"blacklist": ["10.0.0.0/8", "10.0.0.1/8"]}}})");
    EXPECT_EQ(invalid.status, 400);
    EXPECT_EQ(Json::parse(invalid.body, nullptr, false)["error_msg"],
              "invalid configuration: plugins.ip-restriction.blacklist[1]: must be an IP address "
              "or CIDR range such as 10.0.0.0/8 or 2001:db8::/32 (host bits zero)");
}

}  // namespace
}  // namespace aiproxy::test
