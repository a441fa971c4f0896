// Loading files: the shipped default configs, YAML/JSON equivalence, and file-level errors.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// Every field, one per line: equal dumps mean equal configs, and a mismatch shows as a text diff.
// (Config and RouteConfig have no operator==.)
std::string describe(const Config& config) {
    std::ostringstream out;
    const ServerConfig& server = config.server;
    for (const ListenAddress& a : server.listen)
        out << "listen " << a.host << " " << a.port << "\n";
    const Limits& l = server.limits;
    out << "workers " << server.workers << "\ndrain " << server.drain_timeout.count() << "\nlimits "
        << l.max_header_bytes << " " << l.max_body_bytes << " " << l.max_response_header_bytes
        << " " << l.max_response_body_bytes << " " << l.header_timeout.count() << " "
        << l.body_timeout.count() << " " << l.keepalive_timeout.count() << " "
        << l.send_timeout.count() << " " << l.max_connections << "\nstatus "
        << config.status.enabled << " " << config.status.listen.host << " "
        << config.status.listen.port << "\nlog " << config.log.level << "\n";
    for (const UpstreamConfig& u : config.upstreams) {
        out << "upstream " << u.id << " scheme " << (u.scheme == Scheme::Https ? "https" : "http")
            << " type " << u.type << " base_path '" << u.base_path << "'\n";
        for (const NodeConfig& n : u.nodes) {
            out << "  node " << n.host << " " << n.port << " w" << n.weight << " p" << n.priority
                << "\n";
        }
        out << "  tls " << u.tls.verify << " " << u.tls.client_hello_timeout.count() << " '"
            << u.tls.sni << "'\n  timeout " << u.timeout.connect.count() << " "
            << u.timeout.send.count() << " " << u.timeout.read.count() << "\n  pool "
            << u.keepalive_pool.size << " " << u.keepalive_pool.idle_timeout.count() << " "
            << u.keepalive_pool.requests << "\n";
    }
    for (const RouteConfig& r : config.routes) {
        out << "route " << r.id << " priority " << r.priority << " expose "
            << r.expose_upstream_headers << "\n";
        for (const auto& uri : r.uris)
            out << "  uri " << uri << "\n";
        for (const auto& method : r.methods)
            out << "  method " << method << "\n";
        for (const auto& host : r.hosts)
            out << "  host " << host << "\n";
        if (const auto& a = r.ai_proxy) {
            out << "  ai-proxy " << a->upstream_id << " fallback '" << a->upstream_fallback_id
                << "' timeout " << a->timeout.count() << " retry " << a->retry << " host "
                << a->enable_upstream_host << " retry_on";
            for (int status : a->retry_on)
                out << " " << status;
            out << "\n";
        }
    }
    return out.str();
}

// A temporary directory removed at the end of the test.
class TempDir {
public:
    TempDir() {
        path_ = std::filesystem::path{::testing::TempDir()} /
                ("aiproxy_config_test_" +
                 std::string{::testing::UnitTest::GetInstance()->current_test_info()->name()});
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string write(const std::string& name, const std::string& text) const {
        auto file = path_ / name;
        std::ofstream{file} << text;
        return file.string();
    }
    std::string path(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

const std::string kDefaultYaml = AIPROXY_SOURCE_DIR "/config/aiproxy.yaml";
const std::string kDefaultJson = AIPROXY_SOURCE_DIR "/config/aiproxy.json";

TEST(DefaultConfigTest, TheYamlFileLoadsWithoutErrorsOrWarnings) {
    LoadResult result = loadConfigFile(kDefaultYaml);
    EXPECT_THAT(messages(result.errors), IsEmpty());
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    EXPECT_TRUE(result.config.has_value());
}

TEST(DefaultConfigTest, TheJsonFileLoadsWithoutErrorsOrWarnings) {
    LoadResult result = loadConfigFile(kDefaultJson);
    EXPECT_THAT(messages(result.errors), IsEmpty());
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    EXPECT_TRUE(result.config.has_value());
}

TEST(DefaultConfigTest, TheYamlAndJsonFilesHoldTheSameConfig) {
    LoadResult yaml = loadConfigFile(kDefaultYaml);
    LoadResult json = loadConfigFile(kDefaultJson);
    ASSERT_TRUE(yaml.config.has_value());
    ASSERT_TRUE(json.config.has_value());
    EXPECT_EQ(describe(*yaml.config), describe(*json.config));
}

TEST(DefaultConfigTest, ForwardsToOpenAiAndFallsBackToTheLocalMock) {
    LoadResult result = loadConfigFile(kDefaultYaml);
    ASSERT_TRUE(result.config.has_value());
    const Config& config = *result.config;

    EXPECT_THAT(config.server.listen, ElementsAre(ListenAddress{"0.0.0.0", 9080}));
    EXPECT_EQ(config.server.workers, 0u);

    ASSERT_EQ(config.upstreams.size(), 2u);
    const UpstreamConfig& openai = config.upstreams[0];
    EXPECT_EQ(openai.id, "openai_upstream");
    EXPECT_EQ(openai.scheme, Scheme::Https);
    EXPECT_THAT(openai.nodes, ElementsAre(NodeConfig{"api.openai.com", 443, 1, 0}));
    EXPECT_TRUE(openai.tls.verify);
    EXPECT_EQ(openai.tls.client_hello_timeout, 5000ms);
    EXPECT_EQ(openai.base_path, "/v1");

    const UpstreamConfig& mock = config.upstreams[1];
    EXPECT_EQ(mock.id, "nemoclaw_upstream");
    EXPECT_EQ(mock.scheme, Scheme::Http);
    EXPECT_THAT(mock.nodes, ElementsAre(NodeConfig{"127.0.0.1", 8000, 1, 0}));

    ASSERT_EQ(config.routes.size(), 1u);
    const RouteConfig& route = config.routes[0];
    EXPECT_EQ(route.id, "llm_route");
    EXPECT_THAT(route.uris, ElementsAre("/llm/*"));
    EXPECT_TRUE(route.methods.empty());
    EXPECT_TRUE(route.hosts.empty());
    ASSERT_TRUE(route.ai_proxy.has_value());
    EXPECT_EQ(route.ai_proxy->upstream_id, "openai_upstream");
    EXPECT_EQ(route.ai_proxy->upstream_fallback_id, "nemoclaw_upstream");
    EXPECT_EQ(route.ai_proxy->timeout, 60000ms);
    EXPECT_EQ(route.ai_proxy->retry, 1);
    EXPECT_TRUE(route.ai_proxy->enable_upstream_host);
}

// docker/compose.cluster.yaml's config: Admin API objects in etcd, the routes' limits in Redis,
// so the two gateways enforce one limit between them.
TEST(DefaultConfigTest, TheClusterFileSharesObjectsThroughEtcdAndLimitsThroughRedis) {
    EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "AIPROXY_ADMIN_KEY") return "0123456789abcdef0123456789abcdef";
        return std::nullopt;
    };
    LoadResult result = loadConfigFile(AIPROXY_SOURCE_DIR "/config/aiproxy.cluster.yaml", env);
    EXPECT_THAT(messages(result.errors), IsEmpty());
    EXPECT_THAT(messages(result.warnings), IsEmpty());
    ASSERT_TRUE(result.config.has_value());
    const Config& config = *result.config;

    EXPECT_EQ(config.storage.type, StorageConfig::Type::Etcd);
    EXPECT_THAT(config.storage.etcd.endpoints, ElementsAre("http://etcd:2379"));
    EXPECT_EQ(config.storage.etcd.prefix, "/apisix");

    ASSERT_EQ(config.routes.size(), 2u);
    const RouteConfig& llm = config.routes[0];
    EXPECT_EQ(llm.id, "llm_route");
    ASSERT_TRUE(llm.ai_rate_limiting.has_value());
    ASSERT_TRUE(llm.ai_rate_limiting->policy.redis.has_value());
    EXPECT_EQ(llm.ai_rate_limiting->policy.redis->host, "redis");
    EXPECT_TRUE(llm.ai_rate_limiting->policy.allow_degradation);

    const RouteConfig& limited = config.routes[1];
    EXPECT_EQ(limited.id, "limited_route");
    EXPECT_THAT(limited.uris, ElementsAre("/limited/*"));
    ASSERT_TRUE(limited.limit_count.has_value());
    EXPECT_EQ(limited.limit_count->count, 5);
    EXPECT_EQ(limited.limit_count->time_window, 60);
    EXPECT_EQ(limited.limit_count->key.type, "constant");
    EXPECT_EQ(limited.limit_count->rejected_code, 429);
    ASSERT_TRUE(limited.limit_count->policy.redis.has_value());
    EXPECT_EQ(limited.limit_count->policy.redis->host, "redis");
    EXPECT_EQ(limited.limit_count->policy.redis->port, 6379);
    EXPECT_FALSE(limited.limit_count->policy.allow_degradation);
}

TEST(ConfigLoaderTest, YamlAndJsonFormsOfAFullConfigGiveEqualStructs) {
    const std::string yaml = R"(
# every key of the schema
server:
  listen: ["127.0.0.1:0", "[::1]:9081", ":9082"]
  workers: 2
  drain_timeout: 2.5
  limits:
    max_header_bytes: 8192
    max_body_bytes: 1048576
    max_response_header_bytes: 16384
    max_response_body_bytes: 2097152
    header_timeout: 1.5
    body_timeout: 3
    keepalive_timeout: 4
    send_timeout: 5
    max_connections: 100
status:
  enabled: false
  listen: "127.0.0.1:0"
log:
  level: debug
upstreams:
  - id: primary
    name: main pool
    desc: two local nodes
    labels: {team: ai}
    nodes: {"127.0.0.1:8001": 4, "[::1]:8002": 1, "backend.local": 0}
    scheme: http
    timeout: {connect: 0.25, send: 1, read: 120}
    keepalive_pool: {size: 8, idle_timeout: 0.5, requests: 50}
    type: roundrobin
    base_path: /openai/v1/
  - id: 7
    nodes:
      - {host: api.example.com, weight: 2, priority: -1}
      - {host: "::1", port: 8443}
    scheme: https
    tls: {verify: false, client_hello_timeout: 2500, sni: sni.example.com}
    base_path: /
routes:
  - id: chat
    uris: [/llm/*, /v1/chat/completions]
    methods: [post, GET]
    hosts: ["*.Example.com", api.local]
    priority: 10
    expose_upstream_headers: false
    plugins:
      ai-proxy:
        upstream_id: primary
        upstream_fallback_id: 7
        timeout: 1500
        retry: 3
        enable_upstream_host: false
        retry_on: [429, 503]
  - id: 2
    uri: /embeddings
    host: api.local
    plugins:
      ai-proxy:
        upstream_id: "7"
        expose_upstream_headers: false
)";
    const std::string json = R"({
  "server": {
    "listen": ["127.0.0.1:0", "[::1]:9081", ":9082"],
    "workers": 2,
    "drain_timeout": 2.5,
    "limits": {
      "max_header_bytes": 8192, "max_body_bytes": 1048576,
      "max_response_header_bytes": 16384, "max_response_body_bytes": 2097152,
      "header_timeout": 1.5, "body_timeout": 3, "keepalive_timeout": 4, "send_timeout": 5,
      "max_connections": 100
    }
  },
  "status": {"enabled": false, "listen": "127.0.0.1:0"},
  "log": {"level": "debug"},
  "upstreams": [
    {
      "id": "primary", "name": "main pool", "desc": "two local nodes", "labels": {"team": "ai"},
      "nodes": {"127.0.0.1:8001": 4, "[::1]:8002": 1, "backend.local": 0},
      "scheme": "http",
      "timeout": {"connect": 0.25, "send": 1, "read": 120},
      "keepalive_pool": {"size": 8, "idle_timeout": 0.5, "requests": 50},
      "type": "roundrobin",
      "base_path": "/openai/v1/"
    },
    {
      "id": 7,
      "nodes": [
        {"host": "api.example.com", "weight": 2, "priority": -1},
        {"host": "::1", "port": 8443}
      ],
      "scheme": "https",
      "tls": {"verify": false, "client_hello_timeout": 2500, "sni": "sni.example.com"},
      "base_path": "/"
    }
  ],
  "routes": [
    {
      "id": "chat",
      "uris": ["/llm/*", "/v1/chat/completions"],
      "methods": ["post", "GET"],
      "hosts": ["*.Example.com", "api.local"],
      "priority": 10,
      "expose_upstream_headers": false,
      "plugins": {
        "ai-proxy": {
          "upstream_id": "primary", "upstream_fallback_id": 7, "timeout": 1500, "retry": 3,
          "enable_upstream_host": false, "retry_on": [429, 503]
        }
      }
    },
    {
      "id": 2, "uri": "/embeddings", "host": "api.local",
      "plugins": {"ai-proxy": {"upstream_id": "7", "expose_upstream_headers": false}}
    }
  ]
})";
    LoadResult from_yaml = parseConfig(yaml, Format::Yaml, noEnvironment());
    LoadResult from_json = parseConfig(json, Format::Json, noEnvironment());
    EXPECT_THAT(messages(from_yaml.errors), IsEmpty());
    EXPECT_THAT(messages(from_json.errors), IsEmpty());
    EXPECT_THAT(messages(from_yaml.warnings), IsEmpty());
    ASSERT_TRUE(from_yaml.config.has_value());
    ASSERT_TRUE(from_json.config.has_value());
    EXPECT_EQ(describe(*from_yaml.config), describe(*from_json.config));

    // Spot checks that the dump compares real values, not two sets of defaults.
    EXPECT_EQ(describe(*from_yaml.config), R"(listen 127.0.0.1 0
listen ::1 9081
listen 0.0.0.0 9082
workers 2
drain 2500
limits 8192 1048576 16384 2097152 1500 3000 4000 5000 100
status 0 127.0.0.1 0
log debug
upstream primary scheme http type roundrobin base_path '/openai/v1'
  node 127.0.0.1 8001 w4 p0
  node ::1 8002 w1 p0
  node backend.local 80 w0 p0
  tls 1 10000 ''
  timeout 250 1000 120000
  pool 8 500 50
upstream 7 scheme https type roundrobin base_path ''
  node api.example.com 443 w2 p-1
  node ::1 8443 w1 p0
  tls 0 2500 'sni.example.com'
  timeout 60000 60000 0
  pool 320 60000 1000
route chat priority 10 expose 0
  uri /llm/*
  uri /v1/chat/completions
  method POST
  method GET
  host *.example.com
  host api.local
  ai-proxy primary fallback '7' timeout 1500 retry 3 host 0 retry_on 429 503
route 2 priority 0 expose 0
  uri /embeddings
  host api.local
  ai-proxy 7 fallback '' timeout 30000 retry 1 host 1 retry_on 429 500 502 503 504
)");
}

TEST(ConfigLoaderTest, LoadsAFileByItsExtension) {
    TempDir dir;
    const std::string yaml = "server: {listen: [\"127.0.0.1:0\"]}\n";
    const std::string json = R"({"server": {"listen": ["127.0.0.1:0"]}})";
    for (const std::string& file : {dir.write("a.yaml", yaml), dir.write("b.yml", yaml),
                                    dir.write("c.json", json), dir.write("D.JSON", json)}) {
        LoadResult result = loadConfigFile(file, noEnvironment());
        EXPECT_THAT(messages(result.errors), IsEmpty()) << file;
        ASSERT_TRUE(result.config.has_value()) << file;
        EXPECT_THAT(result.config->server.listen, ElementsAre(ListenAddress{"127.0.0.1", 0}));
    }
}

TEST(ConfigLoaderTest, JsonTextInAYamlFileIsParsedAsJsonCompatibleYaml) {
    TempDir dir;
    LoadResult result =
        loadConfigFile(dir.write("x.yaml", R"({"log": {"level": "warn"}})"), noEnvironment());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(result.config->log.level, "warn");
}

TEST(ConfigLoaderTest, YamlInAJsonFileIsASyntaxError) {
    TempDir dir;
    LoadResult result =
        loadConfigFile(dir.write("x.json", "log:\n  level: warn\n"), noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors), ElementsAre(::testing::StartsWith("line 1, column ")));
}

TEST(ConfigLoaderTest, AnUnknownExtensionIsAnErrorNamingTheFile) {
    TempDir dir;
    std::string file = dir.write("aiproxy.conf", "server: {}\n");
    LoadResult result = loadConfigFile(file, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors),
                ElementsAre(file + ": unknown file extension (expected .yaml, .yml or .json)"));
}

TEST(ConfigLoaderTest, AMissingFileIsAnErrorNamingItAndTheReason) {
    TempDir dir;
    std::string file = dir.path("missing.yaml");
    LoadResult result = loadConfigFile(file, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("cannot read " + file + ": No such file or directory"));
}

TEST(ConfigLoaderTest, ADirectoryIsAnErrorNamingItAndTheReason) {
    TempDir dir;
    std::string file = dir.path("config.yaml");
    std::filesystem::create_directory(file);
    LoadResult result = loadConfigFile(file, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors), ElementsAre("cannot read " + file + ": Is a directory"));
}

TEST(ConfigLoaderTest, ExpandsTheEnvironmentGivenToIt) {
    TempDir dir;
    std::string file = dir.write("env.yaml", R"(
server:
  listen: ["${AIPROXY_TEST_LISTEN}"]
log:
  level: ${AIPROXY_TEST_LEVEL:-error}
)");
    EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "AIPROXY_TEST_LISTEN") return "127.0.0.1:18080";
        return std::nullopt;
    };
    LoadResult result = loadConfigFile(file, env);
    ASSERT_TRUE(result.config.has_value());
    EXPECT_THAT(result.config->server.listen, ElementsAre(ListenAddress{"127.0.0.1", 18080}));
    EXPECT_EQ(result.config->log.level, "error");
}

TEST(ConfigLoaderTest, AFileWithAnUnsetVariableIsRejectedWithTheLine) {
    TempDir dir;
    std::string file = dir.write("env.yaml", "log:\n  level: ${AIPROXY_TEST_SURELY_UNSET}\n");
    LoadResult result = loadConfigFile(file, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    // The value left empty reads as null, i.e. as if the key were absent: no second error.
    EXPECT_THAT(messages(result.errors),
                ElementsAre("line 2: environment variable AIPROXY_TEST_SURELY_UNSET is not set"));
}

}  // namespace
}  // namespace aiproxy::config
