// Every validation error, with its exact path and message. Each document is JSON, which is also
// valid YAML (flow style), so every case runs through both parsers and the one validator.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using test::messages;
using test::noEnvironment;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

// A valid document; each case replaces one part of it.
struct Doc {
    std::string top;  // extra top-level members, each followed by a comma
    std::string upstream = R"({"id": "primary", "nodes": {"127.0.0.1:8001": 1}})";
    std::string route = R"("id": "r1", "uri": "/llm/*")";
    std::string ai_proxy = R"("upstream_id": "primary")";

    std::string text() const {
        return "{" + top + R"("upstreams": [)" + upstream +
               R"(, {"id": "fallback", "nodes": {"127.0.0.1:8000": 1}}], "routes": [{)" + route +
               R"(, "plugins": {"ai-proxy": {)" + ai_proxy + "}}}]}";
    }
};

// A document and the exact diagnostics (errors or warnings, by table) it must produce.
struct Case {
    std::string name;
    std::string text;
    std::vector<std::string> expected;
};

std::string server(std::string_view members) {
    return R"("server": {)" + std::string{members} + "},";
}

std::vector<Case> errorCases() {
    return {
        // server
        {"ListenEntryNotHostPort",
         Doc{.top = server(R"("listen": ["127.0.0.1:0", "127.0.0.1:x"])")}.text(),
         {"server.listen[1]: must be host:port"}},
        {"ListenWithoutPort",
         Doc{.top = server(R"("listen": ["127.0.0.1"])")}.text(),
         {"server.listen[0]: must be host:port"}},
        {"ListenIpv6WithoutBrackets",
         Doc{.top = server(R"("listen": ["::1:80"])")}.text(),
         {"server.listen[0]: must be host:port"}},
        {"ListenPortOutOfRange",
         Doc{.top = server(R"("listen": ["127.0.0.1:65536"])")}.text(),
         {"server.listen[0]: port must be between 0 and 65535"}},
        {"ListenEmpty",
         Doc{.top = server(R"("listen": [])")}.text(),
         {"server.listen: must not be empty"}},
        {"ListenNotAList",
         Doc{.top = server(R"("listen": "127.0.0.1:80")")}.text(),
         {"server.listen: must be a list"}},
        {"ListenDuplicate",
         Doc{.top = server(R"("listen": ["127.0.0.1:8080", "127.0.0.1:8080"])")}.text(),
         {"server.listen[1]: duplicate address \"127.0.0.1:8080\""}},
        {"WorkersNegative",
         Doc{.top = server(R"("workers": -1)")}.text(),
         {"server.workers: must be >= 0"}},
        {"WorkersFraction",
         Doc{.top = server(R"("workers": 1.5)")}.text(),
         {"server.workers: must be an integer"}},
        {"WorkersQuoted",
         Doc{.top = server(R"("workers": "4")")}.text(),
         {"server.workers: must be an integer"}},
        {"WorkersTooMany",
         Doc{.top = server(R"("workers": 100000)")}.text(),
         {"server.workers: must be <= 1024"}},
        // An ignored plugin may be a security plugin the operator believes is on.
        {"UnknownPlugins",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "key-auht": {},)"
                         R"( "ai-prompt-gaurd": {"deny_patterns": ["x"])"}
             .text(),
         {"routes[0].plugins.key-auht: unknown plugin [key-auht]",
          "routes[0].plugins.ai-prompt-gaurd: unknown plugin [ai-prompt-gaurd]"}},
        // The prompt plugins: APISIX's checks, and patterns compiled at load.
        {"PromptGuardBadPattern",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-prompt-guard":)"
                         R"( {"allow_patterns": ["ok"], "deny_patterns": ["(unclosed"])"}
             .text(),
         {"routes[0].plugins.ai-prompt-guard.deny_patterns[0]: invalid deny_pattern: (unclosed "
          "(missing closing parenthesis at offset 9)"}},
        {"PromptDecoratorNeedsPrependOrAppend",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-prompt-decorator": {)"}.text(),
         {"routes[0].plugins.ai-prompt-decorator: needs prepend or append"}},
        {"PromptDecoratorBadRole",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-prompt-decorator":)"
                         R"( {"prepend": [{"role": "tool", "content": "x"}, {"role": "user"}])"}
             .text(),
         {"routes[0].plugins.ai-prompt-decorator.prepend[0].role: must be one of: system, user, "
          "assistant",
          "routes[0].plugins.ai-prompt-decorator.prepend[1].content: required"}},
        {"PromptTemplateNeedsTemplates",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-prompt-template":)"
                         R"( {"templates": [{"name": "a", "template": {"messages": []}},)"
                         R"( {"name": "a", "template": {}}])"}
             .text(),
         {"routes[0].plugins.ai-prompt-template.templates[0].template.messages: must have at "
          "least 1 item",
          "routes[0].plugins.ai-prompt-template.templates[1].name: duplicate template name \"a\""}},
        {"RequestRewriteRequiredFields",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-request-rewrite":)"
                         R"( {"provider": "openai", "timeout": 60001)"}
             .text(),
         {"routes[0].plugins.ai-request-rewrite.timeout: must be <= 60000",
          "routes[0].plugins.ai-request-rewrite.prompt: required",
          "routes[0].plugins.ai-request-rewrite.auth: required"}},
        {"ResponseRewriteNeedsSomething",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-response-rewrite":)"
                         R"( {"redact": [{"pattern": "a{2,1}"}])"}
             .text(),
         {"routes[0].plugins.ai-response-rewrite.redact[0].pattern: invalid pattern: a{2,1} "
          "(numbers out of order in {} quantifier at offset 5)"}},
        {"ResponseRewriteEmpty",
         Doc{.ai_proxy = R"("upstream_id": "primary"}, "ai-response-rewrite": {)"}.text(),
         {"routes[0].plugins.ai-response-rewrite: needs redact, prepend_text or append_text"}},
        {"DrainTimeoutZero",
         Doc{.top = server(R"("drain_timeout": 0)")}.text(),
         {"server.drain_timeout: must be > 0"}},
        {"DrainTimeoutWithUnit",
         Doc{.top = server(R"("drain_timeout": "30s")")}.text(),
         {"server.drain_timeout: must be a number of seconds"}},
        {"DurationBelowOneMillisecond",
         Doc{.top = server(R"("drain_timeout": 0.0001)")}.text(),
         {"server.drain_timeout: must be >= 0.001"}},
        {"BodyLimitZero",
         Doc{.top = server(R"("limits": {"max_body_bytes": 0})")}.text(),
         {"server.limits.max_body_bytes: must be > 0"}},
        {"HeaderTimeoutNegative",
         Doc{.top = server(R"("limits": {"header_timeout": -1})")}.text(),
         {"server.limits.header_timeout: must be > 0"}},
        {"UnknownLimit",
         Doc{.top = server(R"("limits": {"max_foo_bytes": 1})")}.text(),
         {"server.limits.max_foo_bytes: unknown key"}},
        {"UnknownServerKey",
         Doc{.top = server(R"("admin": {})")}.text(),
         {"server.admin: unknown key"}},
        {"ServerNotAnObject",
         Doc{.top = R"("server": ["0.0.0.0:80"],)"}.text(),
         {"server: must be an object"}},
        {"UnknownTopLevelKey", Doc{.top = R"("plugins": {},)"}.text(), {"plugins: unknown key"}},
        {"StatusListenNotHostPort",
         Doc{.top = R"("status": {"listen": "127.0.0.1"},)"}.text(),
         {"status.listen: must be host:port"}},
        {"StatusListenAList",
         Doc{.top = R"("status": {"listen": ["127.0.0.1:0"]},)"}.text(),
         {"status.listen: must be a string"}},
        {"StatusEnabledNotBoolean",
         Doc{.top = R"("status": {"enabled": "no"},)"}.text(),
         {"status.enabled: must be a boolean"}},
        {"UnknownStatusKey",
         Doc{.top = R"("status": {"path": "/metrics"},)"}.text(),
         {"status.path: unknown key"}},
        {"LogLevelUnknown",
         Doc{.top = R"("log": {"level": "verbose"},)"}.text(),
         {"log.level: must be one of: trace, debug, info, warn, error, critical, off"}},
        {"TopLevelNotAnObject",
         "[1, 2]",
         {"the top level must be an object with server, status, log, admin, storage, pricing, "
          "upstreams and routes"}},
        {"DuplicateKey",
         Doc{.top = R"("log": {"level": "info", "level": "debug"},)"}.text(),
         {"log.level: duplicate key"}},

        // upstreams
        {"UpstreamIdMissing",
         Doc{.upstream = R"({"nodes": {"127.0.0.1:8001": 1}})"}.text(),
         {"upstreams[0].id: required",
          "routes[0].plugins.ai-proxy.upstream_id: upstream \"primary\" does not exist"}},
        {"UpstreamIdEmpty",
         Doc{.upstream = R"({"id": "", "nodes": {"127.0.0.1:8001": 1}})"}.text(),
         {"upstreams[0].id: must not be empty",
          "routes[0].plugins.ai-proxy.upstream_id: upstream \"primary\" does not exist"}},
        {"UpstreamIdBoolean",
         Doc{.upstream = R"({"id": true, "nodes": {"127.0.0.1:8001": 1}})",
             .ai_proxy = R"("upstream_id": "fallback")"}
             .text(),
         {"upstreams[0].id: must be a string or an integer"}},
        {"UpstreamIdDuplicate",
         Doc{.upstream = R"({"id": "fallback", "nodes": {"127.0.0.1:8001": 1}})",
             .ai_proxy = R"("upstream_id": "fallback")"}
             .text(),
         {"upstreams[1].id: duplicate id \"fallback\""}},
        {"NodesMissing",
         Doc{.upstream = R"({"id": "primary"})"}.text(),
         {"upstreams[0].nodes: required (provider openai-compatible has no public endpoint)"}},
        {"NodesEmptyObject",
         Doc{.upstream = R"({"id": "primary", "nodes": {}})"}.text(),
         {"upstreams[0].nodes: at least one node is required"}},
        {"NodesEmptyList",
         Doc{.upstream = R"({"id": "primary", "nodes": []})"}.text(),
         {"upstreams[0].nodes: at least one node is required"}},
        {"NodesNotObjectOrList",
         Doc{.upstream = R"({"id": "primary", "nodes": "x"})"}.text(),
         {"upstreams[0].nodes: must be an object or a list"}},
        {"NodeKeyNotHostPort",
         Doc{.upstream = R"({"id": "primary", "nodes": {"127.0.0.1:x": 1}})"}.text(),
         {"upstreams[0].nodes[\"127.0.0.1:x\"]: must be host:port"}},
        {"NodeKeyIpv6WithoutBrackets",
         Doc{.upstream = R"({"id": "primary", "nodes": {"::1:8000": 1}})"}.text(),
         {"upstreams[0].nodes[\"::1:8000\"]: must be host:port"}},
        {"NodeKeyPortOnly",
         Doc{.upstream = R"({"id": "primary", "nodes": {"8000": 1}})"}.text(),
         {"upstreams[0].nodes[\"8000\"]: must be host:port"}},
        {"NodeKeyPortZero",
         Doc{.upstream = R"({"id": "primary", "nodes": {"127.0.0.1:0": 1}})"}.text(),
         {"upstreams[0].nodes[\"127.0.0.1:0\"]: port must be between 1 and 65535"}},
        {"NodeWeightNegative",
         Doc{.upstream = R"({"id": "primary", "nodes": {"127.0.0.1:8001": -1}})"}.text(),
         {"upstreams[0].nodes[\"127.0.0.1:8001\"]: must be >= 0"}},
        {"NodeWeightQuoted",
         Doc{.upstream = R"({"id": "primary", "nodes": {"127.0.0.1:8001": "1"}})"}.text(),
         {"upstreams[0].nodes[\"127.0.0.1:8001\"]: must be an integer"}},
        {"NodeListHostMissing",
         Doc{.upstream = R"({"id": "primary", "nodes": [{"port": 80}]})"}.text(),
         {"upstreams[0].nodes[0].host: required"}},
        {"NodeListHostEmpty",
         Doc{.upstream = R"({"id": "primary", "nodes": [{"host": ""}]})"}.text(),
         {"upstreams[0].nodes[0].host: must not be empty"}},
        {"NodeListHostWithSpace",
         Doc{.upstream = R"({"id": "primary", "nodes": [{"host": "a b"}]})"}.text(),
         {"upstreams[0].nodes[0].host: must be a host name or IP address"}},
        {"NodeListPortTooBig",
         Doc{.upstream = R"({"id": "primary", "nodes": [{"host": "a", "port": 65536}]})"}.text(),
         {"upstreams[0].nodes[0].port: must be <= 65535"}},
        {"NodeListWeightNegative",
         Doc{.upstream = R"({"id": "primary", "nodes": [{"host": "a", "weight": -2}]})"}.text(),
         {"upstreams[0].nodes[0].weight: must be >= 0"}},
        {"NodeListUnknownKey",
         Doc{.upstream = R"({"id": "primary", "nodes": [{"host": "a", "metadata": {}}]})"}.text(),
         {"upstreams[0].nodes[0].metadata: unknown key"}},
        {"SchemeUnknown",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "scheme": "grpc"})"}.text(),
         {"upstreams[0].scheme: must be one of: http, https"}},
        {"BalancerTypeUnsupported",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "type": "random"})"}.text(),
         {"upstreams[0].type: must be one of: roundrobin, least_conn, chash, ewma"}},
        {"ChashWithoutKey",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "type": "chash"})"}.text(),
         {"upstreams[0].key: missing key"}},
        {"ProviderUnknown",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "provider": "acme"})"}.text(),
         {"upstreams[0].provider: must be one of: openai, azure-openai, anthropic, deepseek, "
          "gemini, mistral, openrouter, ollama, vllm, openai-compatible"}},
        {"AuthHeaderNameInvalid",
         Doc{.upstream =
                 R"({"id": "primary", "nodes": {"a:1": 1}, "auth": {"header": {"a b": "x"}}})"}
             .text(),
         {"upstreams[0].auth.header[\"a b\"]: must be a valid header or parameter name"}},
        {"PassiveCooldownOrder",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1},
                "checks": {"passive": {"cooldown": 10, "max_cooldown": 5}}})"}
             .text(),
         {"upstreams[0].checks.passive.max_cooldown: must be >= cooldown"}},
        {"BasePathWithoutSlash",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "base_path": "v1"})"}.text(),
         {"upstreams[0].base_path: must start with \"/\""}},
        {"BasePathWithQuery",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "base_path": "/v1?x=1"})"}
             .text(),
         {R"(upstreams[0].base_path: must be a path without spaces, "?" or "#")"}},
        {"ConnectTimeoutZero",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "timeout": {"connect": 0}})"}
             .text(),
         {"upstreams[0].timeout.connect: must be > 0"}},
        {"UnknownTimeout",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "timeout": {"total": 1}})"}
             .text(),
         {"upstreams[0].timeout.total: unknown key"}},
        {"ClientHelloTimeoutFraction",
         Doc{.upstream =
                 R"({"id": "primary", "nodes": {"a:1": 1}, "tls": {"client_hello_timeout": 1.5}})"}
             .text(),
         {"upstreams[0].tls.client_hello_timeout: must be an integer"}},
        {"ClientHelloTimeoutZero",
         Doc{.upstream =
                 R"({"id": "primary", "nodes": {"a:1": 1}, "tls": {"client_hello_timeout": 0}})"}
             .text(),
         {"upstreams[0].tls.client_hello_timeout: must be > 0"}},
        {"TlsVerifyNotBoolean",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "tls": {"verify": "yes"}})"}
             .text(),
         {"upstreams[0].tls.verify: must be a boolean"}},
        {"TlsSniWithSpace",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "tls": {"sni": "a b"}})"}.text(),
         {"upstreams[0].tls.sni: must be a host name"}},
        {"KeepalivePoolSizeZero",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "keepalive_pool": {"size": 0}})"}
             .text(),
         {"upstreams[0].keepalive_pool.size: must be > 0"}},
        {"KeepaliveIdleTimeoutNegative",
         Doc{.upstream =
                 R"({"id": "primary", "nodes": {"a:1": 1}, "keepalive_pool": {"idle_timeout": -5})"
                 "}"}
             .text(),
         {"upstreams[0].keepalive_pool.idle_timeout: must be > 0"}},
        {"UnknownUpstreamKey",
         Doc{.upstream = R"({"id": "primary", "nodes": {"a:1": 1}, "retries": 2})"}.text(),
         {"upstreams[0].retries: unknown key"}},
        {"UpstreamsNotAList", R"({"upstreams": {"id": "x"}})", {"upstreams: must be a list"}},
        {"UpstreamNotAnObject",
         R"({"upstreams": ["primary"]})",
         {"upstreams[0]: must be an object"}},

        // routes
        {"RouteIdMissing", Doc{.route = R"("uri": "/llm/*")"}.text(), {"routes[0].id: required"}},
        {"RouteIdDuplicate",
         R"({"upstreams": [{"id": "u", "nodes": {"a:1": 1}}], "routes": [)"
         R"({"id": "r1", "uri": "/a", "plugins": {"ai-proxy": {"upstream_id": "u"}}},)"
         R"({"id": "r1", "uri": "/b", "plugins": {"ai-proxy": {"upstream_id": "u"}}}]})",
         {"routes[1].id: duplicate id \"r1\""}},
        {"UriMissing", Doc{.route = R"("id": "r1")"}.text(), {"routes[0].uri: required"}},
        {"UriAndUris",
         Doc{.route = R"("id": "r1", "uri": "/a", "uris": ["/b"])"}.text(),
         {"routes[0].uris: cannot be used together with uri"}},
        {"UriWithoutSlash",
         Doc{.route = R"("id": "r1", "uri": "llm/*")"}.text(),
         {"routes[0].uri: must start with \"/\""}},
        {"UriStarInTheMiddle",
         Doc{.route = R"("id": "r1", "uri": "/llm/*/x")"}.text(),
         {R"(routes[0].uri: "*" is only allowed as a trailing "/*")"}},
        {"UriStarWithoutSlash",
         Doc{.route = R"("id": "r1", "uri": "/llm*")"}.text(),
         {R"(routes[0].uri: "*" is only allowed as a trailing "/*")"}},
        {"UriWithQuery",
         Doc{.route = R"("id": "r1", "uri": "/llm?x=1")"}.text(),
         {R"(routes[0].uri: must be a path without "?" or "#")"}},
        {"UrisEmpty",
         Doc{.route = R"("id": "r1", "uris": [])"}.text(),
         {"routes[0].uris: must not be empty"}},
        {"UrisSecondInvalid",
         Doc{.route = R"("id": "r1", "uris": ["/a", "b"])"}.text(),
         {"routes[0].uris[1]: must start with \"/\""}},
        {"MethodUnknown",
         Doc{.route = R"("id": "r1", "uri": "/a", "methods": ["GET", "FETCH"])"}.text(),
         {"routes[0].methods[1]: must be one of: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, "
          "CONNECT, TRACE, PURGE"}},
        {"MethodsNotAList",
         Doc{.route = R"("id": "r1", "uri": "/a", "methods": "GET")"}.text(),
         {"routes[0].methods: must be a list"}},
        {"HostAndHosts",
         Doc{.route = R"("id": "r1", "uri": "/a", "host": "a.com", "hosts": ["b.com"])"}.text(),
         {"routes[0].hosts: cannot be used together with host"}},
        {"HostEmpty",
         Doc{.route = R"("id": "r1", "uri": "/a", "host": "")"}.text(),
         {"routes[0].host: must not be empty"}},
        {"HostWithSpace",
         Doc{.route = R"("id": "r1", "uri": "/a", "host": "a b.com")"}.text(),
         {"routes[0].host: must not contain spaces"}},
        {"HostWildcardInTheMiddle",
         Doc{.route = R"("id": "r1", "uri": "/a", "hosts": ["a.com", "api.*.com"])"}.text(),
         {R"(routes[0].hosts[1]: "*" is only allowed as a leading "*.")"}},
        {"PriorityQuoted",
         Doc{.route = R"("id": "r1", "uri": "/a", "priority": "1")"}.text(),
         {"routes[0].priority: must be an integer"}},
        {"ExposeUpstreamHeadersNotBoolean",
         Doc{.route = R"("id": "r1", "uri": "/a", "expose_upstream_headers": 1)"}.text(),
         {"routes[0].expose_upstream_headers: must be a boolean"}},
        {"UnknownRouteKey",
         Doc{.route = R"("id": "r1", "uri": "/a", "upstream_id": "x")"}.text(),
         {"routes[0].upstream_id: unknown key"}},
        {"RouteWithoutPlugins",
         R"({"routes": [{"id": "r1", "uri": "/a"}]})",
         {"routes[0].plugins: a route needs the ai-proxy or the ai-proxy-multi plugin"}},
        {"RouteWithOtherPluginsOnly",
         R"({"routes": [{"id": "r1", "uri": "/a", "plugins": {"cors": {}}}]})",
         {"routes[0].plugins.cors: unknown plugin [cors]",
          "routes[0].plugins: a route needs the ai-proxy or the ai-proxy-multi plugin"}},
        {"PluginsNotAnObject",
         R"({"routes": [{"id": "r1", "uri": "/a", "plugins": ["ai-proxy"]}]})",
         {"routes[0].plugins: must be an object"}},
        {"AiProxyNotAnObject",
         R"({"routes": [{"id": "r1", "uri": "/a", "plugins": {"ai-proxy": true}}]})",
         {"routes[0].plugins.ai-proxy: must be an object"}},
        {"AiProxyUpstreamIdMissing",
         Doc{.ai_proxy = R"("retry": 1)"}.text(),
         {"routes[0].plugins.ai-proxy.upstream_id: required"}},
        {"AiProxyUpstreamIdUnknown",
         Doc{.ai_proxy = R"("upstream_id": "nope")"}.text(),
         {"routes[0].plugins.ai-proxy.upstream_id: upstream \"nope\" does not exist"}},
        {"AiProxyFallbackUnknown",
         Doc{.ai_proxy = R"("upstream_id": "primary", "upstream_fallback_id": "nope")"}.text(),
         {"routes[0].plugins.ai-proxy.upstream_fallback_id: upstream \"nope\" does not exist"}},
        {"AiProxyFallbackSameAsPrimary",
         Doc{.ai_proxy = R"("upstream_id": "primary", "upstream_fallback_id": "primary")"}.text(),
         {"routes[0].plugins.ai-proxy.upstream_fallback_id: must differ from upstream_id"}},
        {"AiProxyRetryNegative",
         Doc{.ai_proxy = R"("upstream_id": "primary", "retry": -1)"}.text(),
         {"routes[0].plugins.ai-proxy.retry: must be >= 0"}},
        {"AiProxyTimeoutZero",
         Doc{.ai_proxy = R"("upstream_id": "primary", "timeout": 0)"}.text(),
         {"routes[0].plugins.ai-proxy.timeout: must be > 0"}},
        {"AiProxyTimeoutFraction",
         Doc{.ai_proxy = R"("upstream_id": "primary", "timeout": 0.5)"}.text(),
         {"routes[0].plugins.ai-proxy.timeout: must be an integer"}},
        {"AiProxyRetryOnOutOfRange",
         Doc{.ai_proxy = R"("upstream_id": "primary", "retry_on": [429, 600, 99])"}.text(),
         {"routes[0].plugins.ai-proxy.retry_on[1]: must be between 100 and 599",
          "routes[0].plugins.ai-proxy.retry_on[2]: must be between 100 and 599"}},
        {"AiProxyRetryOnNotAList",
         Doc{.ai_proxy = R"("upstream_id": "primary", "retry_on": 500)"}.text(),
         {"routes[0].plugins.ai-proxy.retry_on: must be a list"}},
        {"AiProxyEnableUpstreamHostNotBoolean",
         Doc{.ai_proxy = R"("upstream_id": "primary", "enable_upstream_host": "true")"}.text(),
         {"routes[0].plugins.ai-proxy.enable_upstream_host: must be a boolean"}},
        {"ExposeUpstreamHeadersConflict",
         Doc{.route = R"("id": "r1", "uri": "/a", "expose_upstream_headers": true)",
             .ai_proxy = R"("upstream_id": "primary", "expose_upstream_headers": false)"}
             .text(),
         {"routes[0].plugins.ai-proxy.expose_upstream_headers: conflicts with "
          "routes[0].expose_upstream_headers"}},
        {"RoutesNotAList", R"({"routes": {}})", {"routes: must be a list"}},
    };
}

struct FormatCase {
    Case test;
    Format format;
};

void PrintTo(const FormatCase& param, std::ostream* out) {  // NOLINT: gtest looks it up by name
    *out << param.test.name << (param.format == Format::Yaml ? " (YAML)" : " (JSON)");
}

std::vector<FormatCase> inBothFormats(const std::vector<Case>& cases) {
    std::vector<FormatCase> out;
    for (const Case& test : cases) {
        out.push_back({test, Format::Yaml});
        out.push_back({test, Format::Json});
    }
    return out;
}

std::string caseName(const ::testing::TestParamInfo<FormatCase>& case_info) {
    return case_info.param.test.name + (case_info.param.format == Format::Yaml ? "Yaml" : "Json");
}

class ValidationErrorTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(ValidationErrorTest, ReportsExactlyTheExpectedErrors) {
    const FormatCase& param = GetParam();
    LoadResult result = parseConfig(param.test.text, param.format, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors), ElementsAreArray(param.test.expected))
        << "document: " << param.test.text;
}

INSTANTIATE_TEST_SUITE_P(Config, ValidationErrorTest,
                         ::testing::ValuesIn(inBothFormats(errorCases())), caseName);

TEST(ValidationTest, TheBaseDocumentOfTheErrorCasesIsValid) {
    for (Format format : {Format::Yaml, Format::Json}) {
        LoadResult result = parseConfig(Doc{}.text(), format, noEnvironment());
        EXPECT_TRUE(result.config.has_value());
        EXPECT_THAT(messages(result.errors), IsEmpty());
        EXPECT_THAT(messages(result.warnings), IsEmpty());
    }
}

TEST(ValidationTest, ReportsEveryErrorInOnePassInFileOrder) {
    const std::string yaml = R"(
server:
  listen: ["127.0.0.1:x"]
  workers: -2
log:
  level: loud
upstreams:
  - id: primary
    nodes: {"127.0.0.1:8001": -1}
    scheme: ftp
    type: chash
  - id: primary
    nodes: {"127.0.0.1:8002": 1}
routes:
  - id: r1
    uri: llm
    methods: [GET, FETCH]
    plugins:
      ai-proxy:
        upstream_id: missing
        retry: -1
        retry_on: [700]
  - uri: /ok
    plugins:
      ai-proxy: {upstream_id: primary}
extra: 1
)";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(
        messages(result.errors),
        ElementsAre("server.listen[0]: must be host:port", "server.workers: must be >= 0",
                    "log.level: must be one of: trace, debug, info, warn, error, critical, off",
                    "upstreams[0].nodes[\"127.0.0.1:8001\"]: must be >= 0",
                    "upstreams[0].scheme: must be one of: http, https",
                    "upstreams[0].key: missing key", "upstreams[1].id: duplicate id \"primary\"",
                    "routes[0].uri: must start with \"/\"",
                    "routes[0].methods[1]: must be one of: GET, POST, PUT, DELETE, PATCH, HEAD, "
                    "OPTIONS, CONNECT, TRACE, PURGE",
                    "routes[0].plugins.ai-proxy.upstream_id: upstream \"missing\" does not exist",
                    "routes[0].plugins.ai-proxy.retry: must be >= 0",
                    "routes[0].plugins.ai-proxy.retry_on[0]: must be between 100 and 599",
                    "routes[1].id: required", "extra: unknown key"));
}

TEST(ValidationTest, RoutesMayReferToUpstreamsDeclaredAfterThem) {
    const std::string yaml = R"(
routes:
  - {id: r1, uri: /a, plugins: {ai-proxy: {upstream_id: later}}}
upstreams:
  - {id: later, nodes: {"127.0.0.1:1": 1}}
)";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), IsEmpty());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(result.config->routes.at(0).ai_proxy->upstream_id, "later");
}

TEST(ValidationTest, ErrorPathsInBlockYamlMatchTheJsonOnes) {
    const std::string yaml = R"(
upstreams:
  - id: primary
    nodes:
      "127.0.0.1:x": 1
      127.0.0.1:8002: one
routes:
  - id: r1
    uris: [/a, /b/*/c]
    plugins:
      ai-proxy:
        upstream_id: primary
        timeout: -1
)";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("upstreams[0].nodes[\"127.0.0.1:x\"]: must be host:port",
                            "upstreams[0].nodes[\"127.0.0.1:8002\"]: must be an integer",
                            "routes[0].uris[1]: \"*\" is only allowed as a trailing \"/*\"",
                            "routes[0].plugins.ai-proxy.timeout: must be > 0"));
}

TEST(ValidationTest, QuotedYamlScalarsStayStrings) {
    const std::string yaml = R"(
server:
  workers: "4"
  drain_timeout: '30'
upstreams:
  - id: u
    nodes: {"127.0.0.1:1": 1}
    tls: {verify: "true"}
)";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("server.workers: must be an integer",
                            "server.drain_timeout: must be a number of seconds",
                            "upstreams[0].tls.verify: must be a boolean"));
}

TEST(ValidationTest, YamlSyntaxErrorsGiveLineAndColumn) {
    LoadResult result = parseConfig("server:\n  listen: [\"127.0.0.1:0\"\nlog: {}\n", Format::Yaml,
                                    noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].path, "");
    EXPECT_THAT(result.errors[0].message,
                ::testing::MatchesRegex("line [0-9]+, column [0-9]+: .+"));
}

TEST(ValidationTest, TabIndentedYamlIsASyntaxErrorWithItsLine) {
    LoadResult result = parseConfig("server:\n\tworkers: 1\n", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre(::testing::StartsWith("line 2, column ")));
}

TEST(ValidationTest, JsonSyntaxErrorsGiveLineAndColumn) {
    LoadResult result = parseConfig("{\n  \"server\": }\n", Format::Json, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors),
                ElementsAre(::testing::StartsWith("line 2, column 13: syntax error")));
}

TEST(ValidationTest, JsonCommentsAreSyntaxErrors) {
    LoadResult result = parseConfig("{\n  // no\n}", Format::Json, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre(::testing::StartsWith("line 2, column ")));
}

TEST(ValidationTest, DuplicateYamlKeysAreErrors) {
    LoadResult result =
        parseConfig("log:\n  level: info\n  level: debug\n", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre("log.level: duplicate key"));
}

TEST(ValidationTest, DuplicateJsonKeysInsideListsAreReportedWithTheirPath) {
    LoadResult result = parseConfig(R"({"upstreams": [{"id": "a", "nodes": {"h:1": 1}},)"
                                    R"( {"id": "b", "id": "c", "nodes": {"h:1": 1}}]})",
                                    Format::Json, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre("upstreams[1].id: duplicate key"));
}

TEST(ValidationTest, MoreThanOneYamlDocumentIsAnError) {
    LoadResult result = parseConfig("log: {}\n---\nlog: {}\n", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("line 2, column 1: a second YAML document; the file must hold one"));
}

TEST(ValidationTest, ContentAfterTheYamlDocumentIsAnErrorNotAHang) {
    // yaml-cpp 0.7's LoadAll() loops forever on this input (jbeder/yaml-cpp#1319).
    LoadResult result = parseConfig("{: [0],s: {}},", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("line 1, column 2: keys must be strings",
                            "line 1, column 14: unexpected content after the end of the document"));
}

TEST(ValidationTest, YamlAnchorsAndAliasesAreExpanded) {
    const std::string yaml = R"(
upstreams:
  - id: a
    nodes: {"127.0.0.1:1": 1}
    timeout: &short {connect: 1, send: 2, read: 3}
  - id: b
    nodes: {"127.0.0.1:2": 1}
    timeout: *short
)";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    ASSERT_TRUE(result.config.has_value()) << ::testing::PrintToString(messages(result.errors));
    EXPECT_EQ(result.config->upstreams.at(1).timeout, result.config->upstreams.at(0).timeout);
    EXPECT_EQ(result.config->upstreams.at(1).timeout.read, std::chrono::seconds{3});
}

TEST(ValidationTest, SelfReferencingYamlAliasIsAnErrorNotACrash) {
    LoadResult result = parseConfig("server: &loop [*loop]\n", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("line 1, column 16: an alias cannot refer to a node that contains it"));
}

TEST(ValidationTest, AliasesThatExpandExponentiallyAreRejected) {
    std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; ++i) {
        std::string previous = "*a" + std::to_string(i - 1);
        yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
        for (int j = 0; j < 10; ++j)
            yaml += (j == 0 ? "" : ", ") + previous;
        yaml += "]\n";
    }
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre(::testing::EndsWith(": anchors and aliases copy too many nodes")));
}

TEST(ValidationTest, DeeplyNestedYamlIsAnErrorNamingTheProblem) {
    std::string yaml = "server: " + std::string(3000, '[') + std::string(3000, ']') + "\n";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors), ElementsAre(::testing::EndsWith(": nesting is too deep")));
}

TEST(ValidationTest, DeeplyNestedJsonIsAnErrorNotAQuadraticWalk) {
    std::string json =
        R"({"server": )" + std::string(200'000, '[') + std::string(200'000, ']') + "}";
    LoadResult result = parseConfig(json, Format::Json, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("nesting is too deep (more than 1000 levels)"));
}

TEST(ValidationTest, DuplicateJsonKeysDeepInsideAreReportedWithTheirPath) {
    LoadResult result = parseConfig(
        R"({"routes": [{"id": "r", "uri": "/a", "plugins": {"x": [1, {"k": 1, "k": 2}]}}]})",
        Format::Json, noEnvironment());
    EXPECT_THAT(
        messages(result.errors),
        ElementsAre("routes[0].plugins.x[1].k: duplicate key",
                    "routes[0].plugins.x: unknown plugin [x]",
                    "routes[0].plugins: a route needs the ai-proxy or the ai-proxy-multi plugin"));
}

TEST(ValidationTest, KeysWithInvalidUtf8AreReportedNotThrownOn) {
    LoadResult result =
        parseConfig("server:\n  \"bad\xff key\": 1\n", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("server[\"bad\xEF\xBF\xBD key\"]: unknown key"));
}

TEST(ValidationTest, NonStringYamlKeysAreErrors) {
    LoadResult result =
        parseConfig("log:\n  ? [a, b]\n  : 1\n  level: info\n", Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("log: line 2, column 5: keys must be strings"));
}

TEST(ValidationTest, UnsetEnvironmentVariablesAreReportedTogetherWithOtherErrors) {
    const std::string yaml = "server:\n  listen: [\"${LISTEN}\"]\n  workers: -1\n";
    LoadResult result = parseConfig(yaml, Format::Yaml, noEnvironment());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("line 2: environment variable LISTEN is not set",
                            "server.listen[0]: must be host:port", "server.workers: must be >= 0"));
}

TEST(ValidationTest, EnvironmentVariablesExpandInJsonToo) {
    const std::string json = R"({"server": {"listen": ["${LISTEN:-127.0.0.1:0}"]}})";
    LoadResult result = parseConfig(json, Format::Json, noEnvironment());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(result.config->server.listen.at(0), (ListenAddress{"127.0.0.1", 0}));
}

// Warnings: the file loads, but something in it is probably not what the author meant.

std::vector<Case> warningCases() {
    return {
        // APISIX files carry provider, auth and model options; they should still load.
        {"UnknownAiProxyKeysAreIgnored",
         Doc{.ai_proxy = R"("provider": "openai", "upstream_id": "primary", "auth": {})"}.text(),
         {"routes[0].plugins.ai-proxy.provider: unknown key, ignored",
          "routes[0].plugins.ai-proxy.auth: unknown key, ignored"}},
        {"RetryZeroWithAFallbackLeavesTheFallbackUnused",
         Doc{.ai_proxy =
                 R"("upstream_id": "primary", "upstream_fallback_id": "fallback", "retry": 0)"}
             .text(),
         {"routes[0].plugins.ai-proxy.retry: the fallback upstream is never used when retry is 0"}},
        {"RetryZeroWithoutFallbackIsFine",
         Doc{.ai_proxy = R"("upstream_id": "primary", "retry": 0)"}.text(),
         {}},
    };
}

class ValidationWarningCaseTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(ValidationWarningCaseTest, LoadsAndReportsExactlyTheExpectedWarnings) {
    const FormatCase& param = GetParam();
    LoadResult result = parseConfig(param.test.text, param.format, noEnvironment());
    EXPECT_TRUE(result.config.has_value());
    EXPECT_THAT(messages(result.errors), IsEmpty());
    EXPECT_THAT(messages(result.warnings), ElementsAreArray(param.test.expected));
}

INSTANTIATE_TEST_SUITE_P(Config, ValidationWarningCaseTest,
                         ::testing::ValuesIn(inBothFormats(warningCases())), caseName);

TEST(ValidationWarningTest, AnEmptyFileLoadsWithDefaultsAndAWarning) {
    LoadResult result = parseConfig("# nothing yet\n", Format::Yaml, noEnvironment());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_THAT(messages(result.warnings),
                ElementsAre("the file is empty; every setting has its default"));
    EXPECT_TRUE(result.config->routes.empty());
}

TEST(ValidationWarningTest, WarningsAreStillReportedWhenThereAreErrors) {
    LoadResult result = parseConfig(
        Doc{.ai_proxy = R"("upstream_id": "primary", "retry": -1, "model": "gpt-4o")"}.text(),
        Format::Json, noEnvironment());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_THAT(messages(result.errors),
                ElementsAre("routes[0].plugins.ai-proxy.retry: must be >= 0"));
    EXPECT_THAT(messages(result.warnings),
                ElementsAre("routes[0].plugins.ai-proxy.model: unknown key, ignored"));
}

}  // namespace
}  // namespace aiproxy::config
