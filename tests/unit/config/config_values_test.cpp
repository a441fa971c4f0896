// How values in the file become struct fields: listen addresses, nodes in both forms, durations,
// normalisations and defaults.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using namespace std::chrono_literals;
using test::messages;
using test::noEnvironment;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Parses YAML that must be valid, failing the test with the diagnostics otherwise.
Config load(const std::string& yaml) {
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), IsEmpty()) << yaml;
    EXPECT_THAT(messages(result.warnings), IsEmpty()) << yaml;
    return result.config.value_or(Config{});
}

std::vector<NodeConfig> nodesOf(const std::string& upstream_members) {
    Config config = load("upstreams:\n  - {id: u, " + upstream_members + "}\n");
    if (config.upstreams.empty()) return {};
    return config.upstreams[0].nodes;
}

const std::string kRoutePrefix =
    "upstreams: [{id: u, nodes: {\"127.0.0.1:1\": 1}}, {id: f, nodes: {\"127.0.0.1:2\": 1}}]\n"
    "routes:\n  - ";

RouteConfig routeOf(const std::string& route_yaml) {
    Config config = load(kRoutePrefix + route_yaml + "\n");
    if (config.routes.empty()) return {};
    return config.routes[0];
}

TEST(ConfigValuesTest, AbsentSectionsKeepTheStructDefaults) {
    Config config = load("log: {level: info}\n");
    Limits defaults;
    EXPECT_THAT(config.server.listen, ElementsAre(ListenAddress{"0.0.0.0", 9080}));
    EXPECT_EQ(config.server.workers, 0u);
    EXPECT_EQ(config.server.drain_timeout, 30s);
    EXPECT_EQ(config.server.limits, defaults);
    EXPECT_TRUE(config.upstreams.empty());
    EXPECT_TRUE(config.routes.empty());
}

TEST(ConfigValuesTest, ListenAcceptsEveryDocumentedForm) {
    Config config = load(R"(server:
  listen: ["127.0.0.1:8080", "[::1]:0", "[::]:8081", ":8082", "8083", 8084, "localhost:8085"]
)");
    EXPECT_THAT(config.server.listen,
                ElementsAre(ListenAddress{"127.0.0.1", 8080}, ListenAddress{"::1", 0},
                            ListenAddress{"::", 8081}, ListenAddress{"0.0.0.0", 8082},
                            ListenAddress{"0.0.0.0", 8083}, ListenAddress{"0.0.0.0", 8084},
                            ListenAddress{"localhost", 8085}));
}

TEST(ConfigValuesTest, ListenPortZeroMayRepeatBecauseEachPicksItsOwnPort) {
    Config config = load("server: {listen: [\"127.0.0.1:0\", \"127.0.0.1:0\"]}\n");
    EXPECT_EQ(config.server.listen.size(), 2u);
}

TEST(ConfigValuesTest, StatusEndpointDefaultsToLoopback) {
    Config config = load("log: {level: info}\n");
    EXPECT_TRUE(config.status.enabled);
    EXPECT_EQ(config.status.listen, (ListenAddress{"127.0.0.1", 9091}));
}

TEST(ConfigValuesTest, StatusEndpointAcceptsTheListenForms) {
    Config config = load("status: {enabled: false, listen: \"[::1]:0\"}\n");
    EXPECT_FALSE(config.status.enabled);
    EXPECT_EQ(config.status.listen, (ListenAddress{"::1", 0}));
    EXPECT_EQ(load("status: {listen: 9092}\n").status.listen, (ListenAddress{"0.0.0.0", 9092}));
}

TEST(ConfigValuesTest, WorkersZeroMeansAuto) {
    EXPECT_EQ(load("server: {workers: 0}\n").server.workers, 0u);
    EXPECT_EQ(load("server: {workers: 3}\n").server.workers, 3u);
}

TEST(ConfigValuesTest, DurationsInSecondsAcceptFractions) {
    Config config = load(R"(server:
  drain_timeout: 0.5
  limits: {header_timeout: 2, body_timeout: 0.001, keepalive_timeout: 75, send_timeout: 1.2345}
upstreams:
  - id: u
    nodes: {"127.0.0.1:1": 1}
    timeout: {connect: 1.25, send: 3, read: 600}
    keepalive_pool: {idle_timeout: 0.75}
)");
    EXPECT_EQ(config.server.drain_timeout, 500ms);
    EXPECT_EQ(config.server.limits.header_timeout, 2000ms);
    EXPECT_EQ(config.server.limits.body_timeout, 1ms);
    EXPECT_EQ(config.server.limits.keepalive_timeout, 75000ms);
    EXPECT_EQ(config.server.limits.send_timeout, 1235ms);  // rounded to the millisecond
    const UpstreamConfig& upstream = config.upstreams.at(0);
    EXPECT_EQ(upstream.timeout.connect, 1250ms);
    EXPECT_EQ(upstream.timeout.send, 3000ms);
    EXPECT_EQ(upstream.timeout.read, 600000ms);
    EXPECT_EQ(upstream.keepalive_pool.idle_timeout, 750ms);
}

TEST(ConfigValuesTest, DurationsInMillisecondsAreIntegers) {
    Config config = load(kRoutePrefix +
                         R"({id: r, uri: /a, plugins: {ai-proxy: {upstream_id: u, timeout: 1500}}}
)" + "");
    EXPECT_EQ(config.routes.at(0).ai_proxy->timeout, 1500ms);
    EXPECT_EQ(nodesOf("nodes: {\"a:1\": 1}, tls: {client_hello_timeout: 250}").size(), 1u);
    Config tls =
        load("upstreams: [{id: u, nodes: {\"a:1\": 1}, tls: {client_hello_timeout: 250}}]");
    EXPECT_EQ(tls.upstreams.at(0).tls.client_hello_timeout, 250ms);
}

TEST(ConfigValuesTest, IntegralFloatsAreAcceptedWhereIntegersAreExpected) {
    Config config = load("server: {workers: 2.0, limits: {max_body_bytes: 1e6}}\n");
    EXPECT_EQ(config.server.workers, 2u);
    EXPECT_EQ(config.server.limits.max_body_bytes, 1'000'000u);
}

TEST(ConfigValuesTest, SizesAreBytes) {
    Config config = load(R"(server:
  limits: {max_header_bytes: 1024, max_body_bytes: 2048, max_response_header_bytes: 4096,
           max_response_body_bytes: 8192, max_connections: 3}
)");
    const Limits& limits = config.server.limits;
    EXPECT_EQ(limits.max_header_bytes, 1024u);
    EXPECT_EQ(limits.max_body_bytes, 2048u);
    EXPECT_EQ(limits.max_response_header_bytes, 4096u);
    EXPECT_EQ(limits.max_response_body_bytes, 8192u);
    EXPECT_EQ(limits.max_connections, 3u);
}

TEST(ConfigValuesTest, NodeMapKeepsFileOrderAndWeights) {
    EXPECT_THAT(nodesOf(R"(nodes: {"127.0.0.1:8002": 1, "127.0.0.1:8001": 4, "10.0.0.1:80": 0})"),
                ElementsAre(NodeConfig{"127.0.0.1", 8002, 1, 0},
                            NodeConfig{"127.0.0.1", 8001, 4, 0}, NodeConfig{"10.0.0.1", 80, 0, 0}));
}

TEST(ConfigValuesTest, NodeMapAcceptsBracketedIpv6) {
    EXPECT_THAT(nodesOf(R"(nodes: {"[::1]:8000": 2, "[fe80::1]": 1})"),
                ElementsAre(NodeConfig{"::1", 8000, 2, 0}, NodeConfig{"fe80::1", 80, 1, 0}));
}

TEST(ConfigValuesTest, NodePortDefaultsFromTheScheme) {
    EXPECT_THAT(nodesOf(R"(nodes: {"api.example.com": 1})"),
                ElementsAre(NodeConfig{"api.example.com", 80, 1, 0}));
    EXPECT_THAT(nodesOf(R"(nodes: {"api.example.com": 1}, scheme: https)"),
                ElementsAre(NodeConfig{"api.example.com", 443, 1, 0}));
    // The scheme may come after the nodes in the file.
    EXPECT_THAT(nodesOf(R"(scheme: https, nodes: [{host: a.example.com}])"),
                ElementsAre(NodeConfig{"a.example.com", 443, 1, 0}));
}

TEST(ConfigValuesTest, NodeListReadsHostPortWeightAndPriority) {
    EXPECT_THAT(nodesOf(R"(nodes: [{host: 127.0.0.1, port: 8001, weight: 4, priority: 1},
                                  {host: "::1", port: 8002, weight: 0, priority: -1},
                                  {host: "[::2]", port: 8003}])"),
                ElementsAre(NodeConfig{"127.0.0.1", 8001, 4, 1}, NodeConfig{"::1", 8002, 0, -1},
                            NodeConfig{"::2", 8003, 1, 0}));
}

TEST(ConfigValuesTest, UpstreamDefaults) {
    Config config = load("upstreams: [{id: u, nodes: {\"a:1\": 1}}]\n");
    const UpstreamConfig& upstream = config.upstreams.at(0);
    EXPECT_EQ(upstream.scheme, Scheme::Http);
    EXPECT_EQ(upstream.type, "roundrobin");
    EXPECT_EQ(upstream.base_path, "/v1");
    EXPECT_EQ(upstream.tls, TlsConfig{});
    EXPECT_EQ(upstream.timeout, UpstreamTimeouts{});
    EXPECT_EQ(upstream.keepalive_pool, KeepalivePool{});
}

TEST(ConfigValuesTest, BasePathLosesItsTrailingSlash) {
    auto basePath = [](const std::string& value) {
        Config config =
            load(R"(upstreams: [{id: u, nodes: {"a:1": 1}, base_path: ")" + value + "\"}]\n");
        return config.upstreams.empty() ? std::string{"?"} : config.upstreams[0].base_path;
    };
    EXPECT_EQ(basePath("/v1/"), "/v1");
    EXPECT_EQ(basePath("/openai/v1"), "/openai/v1");
    EXPECT_EQ(basePath("/"), "");
    EXPECT_EQ(basePath("//"), "");
}

TEST(ConfigValuesTest, IdsMayBeIntegers) {
    Config config = load(R"(upstreams: [{id: 1, nodes: {"a:1": 1}}, {id: "2", nodes: {"a:2": 1}}]
routes: [{id: 10, uri: /a, plugins: {ai-proxy: {upstream_id: 1, upstream_fallback_id: 2}}}]
)");
    EXPECT_EQ(config.upstreams.at(0).id, "1");
    EXPECT_EQ(config.upstreams.at(1).id, "2");
    EXPECT_EQ(config.routes.at(0).id, "10");
    EXPECT_EQ(config.routes.at(0).ai_proxy->upstream_id, "1");
    EXPECT_EQ(config.routes.at(0).ai_proxy->upstream_fallback_id, "2");
}

TEST(ConfigValuesTest, ApisixDescriptiveKeysAreAcceptedAndIgnored) {
    RouteConfig route = routeOf(
        "{id: r, name: chat, desc: the chat route, labels: {env: prod}, uri: /a, "
        "plugins: {ai-proxy: {upstream_id: u}}}");
    EXPECT_EQ(route.id, "r");
    Config config =
        load("upstreams: [{id: u, name: pool, desc: d, labels: {a: b}, nodes: {\"a:1\": 1}}]\n");
    EXPECT_EQ(config.upstreams.at(0).id, "u");
}

TEST(ConfigValuesTest, RouteUriBecomesAOneElementList) {
    EXPECT_THAT(routeOf("{id: r, uri: /llm/*, plugins: {ai-proxy: {upstream_id: u}}}").uris,
                ElementsAre("/llm/*"));
    EXPECT_THAT(
        routeOf("{id: r, uris: [/a, /b/*, /*], plugins: {ai-proxy: {upstream_id: u}}}").uris,
        ElementsAre("/a", "/b/*", "/*"));
}

TEST(ConfigValuesTest, MethodsAreUpperCased) {
    EXPECT_THAT(
        routeOf("{id: r, uri: /a, methods: [post, Get], plugins: {ai-proxy: {upstream_id: u}}}")
            .methods,
        ElementsAre("POST", "GET"));
}

TEST(ConfigValuesTest, HostsAreLowerCasedAndMayBeWildcards) {
    EXPECT_THAT(routeOf("{id: r, uri: /a, host: API.Example.com, "
                        "plugins: {ai-proxy: {upstream_id: u}}}")
                    .hosts,
                ElementsAre("api.example.com"));
    EXPECT_THAT(routeOf("{id: r, uri: /a, hosts: [\"*.example.com\", b.local], "
                        "plugins: {ai-proxy: {upstream_id: u}}}")
                    .hosts,
                ElementsAre("*.example.com", "b.local"));
}

TEST(ConfigValuesTest, AiProxyDefaults) {
    RouteConfig route = routeOf("{id: r, uri: /a, plugins: {ai-proxy: {upstream_id: u}}}");
    ASSERT_TRUE(route.ai_proxy.has_value());
    const AiProxyConfig& ai = *route.ai_proxy;
    EXPECT_EQ(ai.upstream_fallback_id, "");
    EXPECT_EQ(ai.timeout, 30s);
    EXPECT_EQ(ai.retry, 1);
    EXPECT_TRUE(ai.enable_upstream_host);
    EXPECT_THAT(ai.retry_on, ElementsAre(429, 500, 502, 503, 504));
    EXPECT_TRUE(route.expose_upstream_headers);
    EXPECT_EQ(route.priority, 0);
}

TEST(ConfigValuesTest, AiProxyReadsEveryKey) {
    RouteConfig route = routeOf(
        "{id: r, uri: /a, priority: -3, plugins: {ai-proxy: {upstream_id: u, "
        "upstream_fallback_id: f, timeout: 5000, retry: 4, enable_upstream_host: false, "
        "retry_on: [502], expose_upstream_headers: false}}}");
    ASSERT_TRUE(route.ai_proxy.has_value());
    const AiProxyConfig& ai = *route.ai_proxy;
    EXPECT_EQ(ai.upstream_id, "u");
    EXPECT_EQ(ai.upstream_fallback_id, "f");
    EXPECT_EQ(ai.timeout, 5000ms);
    EXPECT_EQ(ai.retry, 4);
    EXPECT_FALSE(ai.enable_upstream_host);
    EXPECT_THAT(ai.retry_on, ElementsAre(502));
    EXPECT_FALSE(route.expose_upstream_headers);
    EXPECT_EQ(route.priority, -3);
}

TEST(ConfigValuesTest, AnEmptyRetryOnListNeverRetriesOnStatus) {
    RouteConfig route =
        routeOf("{id: r, uri: /a, plugins: {ai-proxy: {upstream_id: u, retry_on: []}}}");
    ASSERT_TRUE(route.ai_proxy.has_value());
    EXPECT_TRUE(route.ai_proxy->retry_on.empty());
}

TEST(ConfigValuesTest, AnEmptyFallbackIdMeansNoFallback) {
    RouteConfig route = routeOf(
        "{id: r, uri: /a, plugins: {ai-proxy: {upstream_id: u, upstream_fallback_id: \"\"}}}");
    ASSERT_TRUE(route.ai_proxy.has_value());
    EXPECT_EQ(route.ai_proxy->upstream_fallback_id, "");
}

TEST(ConfigValuesTest, ANullValueCountsAsAbsent) {
    Config config = load(kRoutePrefix + R"(id: r
    uri: /a
    plugins:
      ai-proxy:
        upstream_id: u
        upstream_fallback_id: ~
        retry:
server:
  workers: null
)");
    ASSERT_EQ(config.routes.size(), 1u);
    EXPECT_EQ(config.routes[0].ai_proxy->upstream_fallback_id, "");
    EXPECT_EQ(config.routes[0].ai_proxy->retry, 1);
    EXPECT_EQ(config.server.workers, 0u);
}

TEST(ConfigValuesTest, AnAiProxyWithNothingUnderItStillNeedsAnUpstream) {
    LoadResult result = parseConfig("routes: [{id: r, uri: /a, plugins: {ai-proxy: }}]\n",
                                    Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("routes[0].plugins.ai-proxy.upstream_id: required"));
}

TEST(ConfigValuesTest, YamlPlainScalarsFollowTheCoreSchema) {
    Config config = load(R"(server:
  workers: 0x4
  limits: {max_connections: 0o17, max_body_bytes: +512}
upstreams: [{id: u, nodes: {"a:1": 1}, tls: {verify: False}}]
routes: [{id: r, uri: /a, plugins: {ai-proxy: {upstream_id: u, enable_upstream_host: TRUE}}}]
)");
    EXPECT_EQ(config.server.workers, 4u);
    EXPECT_EQ(config.server.limits.max_connections, 15u);
    EXPECT_EQ(config.server.limits.max_body_bytes, 512u);
    EXPECT_FALSE(config.upstreams.at(0).tls.verify);
    EXPECT_TRUE(config.routes.at(0).ai_proxy->enable_upstream_host);
}

TEST(ConfigValuesTest, YamlOneOneBooleansAreStrings) {
    LoadResult result = parseConfig("upstreams: [{id: u, nodes: {\"a:1\": 1}, tls: {verify: yes}}]",
                                    Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre("upstreams[0].tls.verify: must be a boolean"));
}

TEST(ConfigValuesTest, HugeNumbersAreOutOfRangeNotWrapped) {
    LoadResult result = parseConfig(
        "server: {workers: 99999999999999999999999, limits: {max_body_bytes: "
        "-99999999999999999999999}}",
        Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre("server.workers: must be <= 1024",
                                                     "server.limits.max_body_bytes: must be > 0"));
    result = parseConfig(R"({"server": {"workers": 99999999999999999999999}})", Format::Json,
                         noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre("server.workers: must be <= 1024"));
}

TEST(ConfigValuesTest, ExpandedEnvironmentValuesAreTypedLikeWrittenOnes) {
    EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "WORKERS") return "3";
        if (name == "KEY") return "8000";
        return std::nullopt;
    };
    LoadResult result = parseConfig("server:\n  workers: ${WORKERS}\n", Format::Yaml, env);
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(result.config->server.workers, 3u);
}

}  // namespace
}  // namespace aiproxy::config

namespace aiproxy::config {
namespace {

TEST(RetryBudgetConfigTest, OnByDefaultWithEnvoysShareAndAFloor) {
    Config config = load("upstreams:\n  - {id: u, nodes: {\"127.0.0.1:1\": 1}}\n");
    ASSERT_EQ(config.upstreams.size(), 1u);
    EXPECT_EQ(config.upstreams[0].retry_budget,
              (RetryBudgetConfig{.enabled = true, .ratio = 0.2, .min_per_second = 5}));
}

TEST(RetryBudgetConfigTest, UpstreamAndAiProxyMultiTakeTheirOwn) {
    Config config = load(
        "upstreams:\n  - {id: u, nodes: {\"127.0.0.1:1\": 1},"
        " retry_budget: {ratio: 0.5, min_per_second: 0}}\n"
        "routes:\n  - {id: r, uri: /m/*, plugins: {ai-proxy-multi: {instances: ["
        "{name: a, provider: openai-compatible, weight: 1,"
        " override: {endpoint: 'http://127.0.0.1:9/v1'}}],"
        " retry_budget: {enabled: false}}}}\n");
    ASSERT_EQ(config.upstreams.size(), 1u);
    EXPECT_EQ(config.upstreams[0].retry_budget.ratio, 0.5);
    EXPECT_EQ(config.upstreams[0].retry_budget.min_per_second, 0);
    ASSERT_EQ(config.routes.size(), 1u);
    ASSERT_TRUE(config.routes[0].ai_proxy_multi);
    EXPECT_FALSE(config.routes[0].ai_proxy_multi->retry_budget.enabled);
}

TEST(RetryBudgetConfigTest, MistakesNameTheirField) {
    LoadResult result = parseConfig(
        "upstreams:\n  - {id: u, nodes: {\"127.0.0.1:1\": 1},"
        " retry_budget: {ratio: -1, min_per_second: x, burst: 3}}\n",
        Format::Yaml, noEnvironment());
    auto errors = messages(result.errors);
    EXPECT_THAT(errors, ::testing::Contains(::testing::HasSubstr(
                            "upstreams[0].retry_budget.ratio: must be a number >= 0")));
    EXPECT_THAT(errors, ::testing::Contains(::testing::HasSubstr(
                            "upstreams[0].retry_budget.min_per_second: must be a number >= 0")));
    EXPECT_THAT(errors,
                ::testing::Contains(::testing::HasSubstr("upstreams[0].retry_budget.burst")));
}

}  // namespace
}  // namespace aiproxy::config

namespace aiproxy::config {
namespace {

TEST(SessionAffinityConfigTest, SessionHashingNeedsNoKeyButNeedsChash) {
    Config config = load(
        "upstreams:\n  - {id: u, type: chash, hash_on: session,"
        " nodes: {\"127.0.0.1:1\": 1}}\n");
    ASSERT_EQ(config.upstreams.size(), 1u);
    EXPECT_EQ(config.upstreams[0].hash_on, "session");
    EXPECT_EQ(config.upstreams[0].key, "");  // read as x-session-id

    LoadResult wrong =
        parseConfig("upstreams:\n  - {id: u, hash_on: session, nodes: {\"127.0.0.1:1\": 1}}\n",
                    Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(wrong.errors), ::testing::Contains(::testing::HasSubstr(
                                            "upstreams[0].hash_on: session needs type chash")));
}

TEST(LatencyStrategyConfigTest, EwmaTakesOneOfThreeSignals) {
    Config config = load(
        "upstreams:\n  - {id: u, type: ewma, latency_strategy: tpot,"
        " nodes: {\"127.0.0.1:1\": 1}}\n");
    ASSERT_EQ(config.upstreams.size(), 1u);
    EXPECT_EQ(config.upstreams[0].latency_strategy, "tpot");

    LoadResult bad = parseConfig(
        "upstreams:\n  - {id: u, type: ewma, latency_strategy: p99, nodes: {\"127.0.0.1:1\": 1}}\n"
        "  - {id: v, latency_strategy: total, nodes: {\"127.0.0.1:2\": 1}}\n",
        Format::Yaml, noEnvironment());
    auto errors = messages(bad.errors);
    EXPECT_THAT(errors, ::testing::Contains(
                            ::testing::HasSubstr("upstreams[0].latency_strategy: must be one of")));
    EXPECT_THAT(errors, ::testing::Contains(::testing::HasSubstr(
                            "upstreams[1].latency_strategy: needs type ewma")));
}

}  // namespace
}  // namespace aiproxy::config
