// Upstream provider fields: what a provider fills in, and what the upstream's own fields override.

#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::config {
namespace {

UpstreamConfig onlyUpstream(const std::string& upstream_json) {
    auto result = parseConfig(R"({"upstreams": [)" + upstream_json + "]}", Format::Json,
                              [](const std::string&) { return std::optional<std::string>{}; });
    EXPECT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors[0].toString());
    return result.config ? result.config->upstreams.at(0) : UpstreamConfig{};
}

TEST(ProviderSchema, ProviderFillsEndpointSchemeAndBasePath) {
    auto upstream = onlyUpstream(
        R"({"id": "oa", "provider": "openai", "auth": {"header": {"Authorization": "Bearer k"}}})");
    ASSERT_EQ(upstream.nodes.size(), 1u);
    EXPECT_EQ(upstream.nodes[0].host, "api.openai.com");
    EXPECT_EQ(upstream.nodes[0].port, 443);
    EXPECT_EQ(upstream.scheme, Scheme::Https);
    EXPECT_EQ(upstream.base_path, "/v1");
    EXPECT_FALSE(upstream.pass_client_auth);  // it has its own credentials
    EXPECT_EQ(upstream.auth.header, (StringPairs{{"Authorization", "Bearer k"}}));
}

TEST(ProviderSchema, OwnFieldsWinOverTheProvider) {
    auto upstream = onlyUpstream(R"({"id": "a", "provider": "anthropic",
        "nodes": {"127.0.0.1:9000": 1}, "scheme": "http", "base_path": "/api",
        "pass_client_auth": true, "auth": {"header": {"x-api-key": "k"}}})");
    EXPECT_EQ(upstream.nodes[0].host, "127.0.0.1");
    EXPECT_EQ(upstream.scheme, Scheme::Http);
    EXPECT_EQ(upstream.base_path, "/api");
    EXPECT_TRUE(upstream.pass_client_auth);
}

TEST(ProviderSchema, WithoutAuthTheClientKeyPasses) {
    auto upstream = onlyUpstream(R"({"id": "local", "nodes": {"127.0.0.1:8000": 1}})");
    EXPECT_EQ(upstream.provider, "openai-compatible");
    EXPECT_TRUE(upstream.pass_client_auth);
    EXPECT_EQ(upstream.scheme, Scheme::Http);
    EXPECT_EQ(upstream.base_path, "/v1");
}

TEST(ProviderSchema, OptionsKeepJsonAndModelMapKeepsOrder) {
    auto upstream = onlyUpstream(R"({"id": "l", "nodes": {"127.0.0.1:8000": 1},
        "options": {"model": "llama", "temperature": 0.5, "stop": ["x"]},
        "model_map": {"gpt-4o": "llama-3.1-70b", "gpt-4o-mini": "llama-3.1-8b"}})");
    EXPECT_EQ(upstream.options,
              (StringPairs{{"model", "\"llama\""}, {"temperature", "0.5"}, {"stop", "[\"x\"]"}}));
    EXPECT_EQ(upstream.model_map,
              (StringPairs{{"gpt-4o", "llama-3.1-70b"}, {"gpt-4o-mini", "llama-3.1-8b"}}));
}

TEST(ProviderSchema, ChecksUseApisixNames) {
    auto upstream = onlyUpstream(R"({"id": "h", "nodes": {"127.0.0.1:8000": 1},
        "type": "chash", "hash_on": "header", "key": "X-User",
        "checks": {"active": {"type": "http", "http_path": "/v1/models", "timeout": 2,
                              "req_headers": ["X-Probe: 1"],
                              "healthy": {"interval": 3, "successes": 1},
                              "unhealthy": {"interval": 1, "http_failures": 2, "tcp_failures": 1}},
                   "passive": {"unhealthy": {"http_statuses": [500, 502], "tcp_failures": 1},
                               "cooldown": 2, "max_cooldown": 30}}})");
    EXPECT_EQ(upstream.type, "chash");
    EXPECT_EQ(upstream.hash_on, "header");
    EXPECT_EQ(upstream.key, "X-User");
    ASSERT_TRUE(upstream.checks.active);
    EXPECT_EQ(upstream.checks.active->http_path, "/v1/models");
    EXPECT_EQ(upstream.checks.active->timeout, Milliseconds{2000});
    EXPECT_EQ(upstream.checks.active->healthy.interval, Milliseconds{3000});
    EXPECT_EQ(upstream.checks.active->unhealthy.http_failures, 2);
    EXPECT_EQ(upstream.checks.passive.unhealthy.http_statuses, (std::vector<int>{500, 502}));
    EXPECT_EQ(upstream.checks.passive.unhealthy.tcp_failures, 1);
    EXPECT_EQ(upstream.checks.passive.cooldown, Milliseconds{2000});
    EXPECT_EQ(upstream.checks.passive.max_cooldown, Milliseconds{30000});
}

}  // namespace
}  // namespace aiproxy::config
