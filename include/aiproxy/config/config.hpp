#pragma once
// Plain, validated configuration structs. Only the config folder knows YAML or JSON; everything
// else receives these structs (see ARCHITECTURE.md, section 3).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aiproxy::config {

using Milliseconds = std::chrono::milliseconds;

struct ListenAddress {
    std::string host;        // "0.0.0.0", "127.0.0.1", "::", "::1" (brackets stripped)
    std::uint16_t port = 0;  // 0 = pick a free port (tests); all workers share the one picked
    bool operator==(const ListenAddress&) const = default;
};

// server.limits.*: every read is bounded in size and time. Durations are seconds in the file.
struct Limits {
    std::size_t max_header_bytes = 64 * 1024;
    std::size_t max_body_bytes = 16 * 1024 * 1024;
    std::size_t max_response_header_bytes = 64 * 1024;
    std::size_t max_response_body_bytes = 256 * 1024 * 1024;  // non-streaming responses only
    Milliseconds header_timeout{10'000};     // until the request header is complete
    Milliseconds body_timeout{60'000};       // until the request body is complete
    Milliseconds keepalive_timeout{60'000};  // idle time between requests on one connection
    Milliseconds send_timeout{60'000};       // one write to the client
    std::size_t max_connections = 10'000;    // per process; more are accepted and closed at once
    bool operator==(const Limits&) const = default;
};

// server.tls: HTTPS on every data-plane listen address. The files are read again on SIGHUP, so
// a renewed certificate takes effect without a restart; TLS 1.2 is the minimum.
struct ServerTlsConfig {
    std::string cert;       // PEM: the certificate chain (paths relative to the config file)
    std::string key;        // PEM: its private key
    std::string client_ca;  // PEM CA bundle; set: clients must present a certificate it signed
    bool operator==(const ServerTlsConfig&) const = default;
};

// server.real_ip (nginx real_ip, APISIX real-ip): behind proxies, the client is the address they
// name in `header`, believed only when the TCP peer is in trusted_addresses. X-Forwarded-For is
// walked from the right past trusted addresses (recursive), or its last entry is taken.
struct RealIpConfig {
    std::string header = "X-Forwarded-For";
    std::vector<std::string> trusted_addresses;  // IPs or CIDRs, not empty
    bool recursive = true;
    bool operator==(const RealIpConfig&) const = default;
};

struct ServerConfig {
    std::vector<ListenAddress> listen{{"0.0.0.0", 9080}};
    unsigned workers = 0;  // 0 = std::thread::hardware_concurrency()
    Limits limits;
    Milliseconds drain_timeout{30'000};
    std::optional<ServerTlsConfig> tls;
    std::optional<RealIpConfig> real_ip;  // unset: the client is the TCP peer
    bool operator==(const ServerConfig&) const = default;
};

// status.*: the operator endpoint (/metrics, /healthz, /readyz). No key: keep it on loopback.
struct StatusConfig {
    bool enabled = true;
    ListenAddress listen{"127.0.0.1", 9091};
    bool operator==(const StatusConfig&) const = default;
};

struct LogConfig {
    std::string level = "info";  // trace|debug|info|warn|error|critical|off
    // One JSON line per request: "stdout", "off" or a file path (reopened on SIGUSR1).
    std::string access_log = "stdout";
    bool operator==(const LogConfig&) const = default;
};

// admin.*: the Admin API (APISIX v3 shapes), served by the control thread.
struct AdminKey {
    std::string key;
    std::string role = "admin";  // admin | viewer (GET only)
    bool operator==(const AdminKey&) const = default;
};

// admin.auth_failure_limit: an address that fails authentication max_failures times within
// window is refused without a key check until that window ends; max_tracked bounds memory.
struct AuthFailureLimitConfig {
    int max_failures = 10;
    Milliseconds window{60000};
    std::size_t max_tracked = 4096;
    bool operator==(const AuthFailureLimitConfig&) const = default;
};

struct AdminConfig {
    bool enabled = true;
    ListenAddress listen{"127.0.0.1", 9180};
    std::vector<std::string> allow{"127.0.0.0/8", "::1/128"};  // CIDRs; others get 403
    std::vector<AdminKey> keys;  // empty: a key is generated into storage.data_dir
    AuthFailureLimitConfig auth_failure_limit;
    bool operator==(const AdminConfig&) const = default;
};

// storage.etcd.*: the cluster store (APISIX's deployment.etcd keys).
struct EtcdConfig {
    std::vector<std::string> endpoints{"http://127.0.0.1:2379"};  // http://host:port, tried in turn
    std::string prefix = "/apisix";  // keys are <prefix>/<resource>/<id>
    Milliseconds timeout{5000};      // per request; etcd counts as down after it
    std::string user;                // with password: etcd's auth (a token per connection)
    std::string password;
    bool operator==(const EtcdConfig&) const = default;
};

// storage.*: where admin-managed objects live (ARCHITECTURE.md section 3).
struct StorageConfig {
    enum class Type { File, Etcd };
    Type type = Type::File;
    std::string data_dir = "./data";  // relative to the working directory; also holds the admin key
    EtcdConfig etcd;
    bool operator==(const StorageConfig&) const = default;
};

// name -> value pairs in file order (headers, query parameters, model names).
using StringPairs = std::vector<std::pair<std::string, std::string>>;

enum class Scheme { Http, Https };

struct NodeConfig {
    std::string host;
    std::uint16_t port = 0;  // filled from the scheme (80/443) when the file omits it
    int weight = 1;          // >= 0; 0 = never picked
    int priority = 0;        // list form only; used by later balancers
    bool operator==(const NodeConfig&) const = default;
};

struct TlsConfig {
    bool verify = true;
    Milliseconds client_hello_timeout{10'000};  // bound on the TLS handshake (file: ms)
    std::string sni;                            // empty = node host
    bool operator==(const TlsConfig&) const = default;
};

// upstreams[].timeout.{connect,send,read}: seconds in the file (fractions allowed). connect and
// send have APISIX's defaults. read bounds how long one response (a stream, say) may take in
// total once it has started; 0 (the default) sets no bound, since a long generation is no
// failure. The gap between two reads is bounded by the route's ai-proxy timeout.
struct UpstreamTimeouts {
    Milliseconds connect{60'000};
    Milliseconds send{60'000};
    Milliseconds read{0};
    bool operator==(const UpstreamTimeouts&) const = default;
};

struct KeepalivePool {
    std::size_t size = 320;             // idle connections kept per node and worker
    Milliseconds idle_timeout{60'000};  // file: seconds
    std::size_t requests = 1000;        // requests per connection before it is closed
    bool operator==(const KeepalivePool&) const = default;
};

// upstreams[].checks: APISIX field names. Passive checks are always on; active ones only when
// checks.active is present.
struct HealthyConfig {
    Milliseconds interval{1'000};  // active only (file: seconds)
    std::vector<int> http_statuses{200, 302};
    int successes = 2;
    bool operator==(const HealthyConfig&) const = default;
};

struct UnhealthyConfig {
    Milliseconds interval{1'000};  // active only (file: seconds)
    std::vector<int> http_statuses{429, 404, 500, 501, 502, 503, 504, 505};
    int http_failures = 5;
    int tcp_failures = 2;
    int timeouts = 3;
    bool operator==(const UnhealthyConfig&) const = default;
};

struct ActiveCheckConfig {
    std::string type = "http";        // http | https | tcp
    Milliseconds timeout{1'000};      // file: seconds
    std::string http_path = "/";      // suggest /v1/models: costs no tokens
    std::string http_method = "GET";  // our extension (APISIX always GETs)
    std::string host;                 // Host header; empty = node host
    std::uint16_t port = 0;           // 0 = node port
    bool https_verify_certificate = true;
    std::vector<std::string> req_headers;  // "Name: value"
    HealthyConfig healthy;
    UnhealthyConfig unhealthy;
    bool operator==(const ActiveCheckConfig&) const = default;
};

struct PassiveCheckConfig {
    // APISIX defaults: a node counts healthy again after successes answers with these statuses.
    HealthyConfig healthy{.interval = Milliseconds{0},
                          .http_statuses = {200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300,
                                            301, 302, 303, 304, 305, 306, 307, 308},
                          .successes = 5};
    UnhealthyConfig unhealthy{.interval = Milliseconds{0},
                              .http_statuses = {429, 500, 503},
                              .http_failures = 5,
                              .tcp_failures = 2,
                              .timeouts = 7};
    // Our extension: an ejection lasts cooldown, doubling on each repeated ejection up to
    // max_cooldown, and ends with one half-open trial request (file: seconds).
    Milliseconds cooldown{5'000};
    Milliseconds max_cooldown{300'000};
    bool operator==(const PassiveCheckConfig&) const = default;
};

struct HealthChecksConfig {
    std::optional<ActiveCheckConfig> active;
    PassiveCheckConfig passive;
    bool operator==(const HealthChecksConfig&) const = default;
};

// upstreams[].auth: credentials the gateway adds to every request to that upstream.
struct UpstreamAuth {
    StringPairs header;
    StringPairs query;
    bool empty() const { return header.empty() && query.empty(); }
    bool operator==(const UpstreamAuth&) const = default;
};

// upstreams[].retry_budget and ai-proxy-multi's: retries and hedges sent on behalf of the
// upstream's requests stay within ratio x its requests of the last 10 s + min_per_second x 10
// (upstream/retry_budget.hpp). On by default.
struct RetryBudgetConfig {
    bool enabled = true;
    double ratio = 0.2;
    double min_per_second = 5;
    bool operator==(const RetryBudgetConfig&) const = default;
};

struct UpstreamConfig {
    std::string id;
    std::vector<NodeConfig> nodes;
    Scheme scheme = Scheme::Http;
    TlsConfig tls;
    UpstreamTimeouts timeout;
    KeepalivePool keepalive_pool;
    std::string type = "roundrobin";  // roundrobin | least_conn | chash | ewma
    std::string hash_on = "vars";  // chash: vars | header | cookie | consumer | vars_combinations
    std::string key;               // chash: "remote_addr", "uri", "arg_user", header name, ...
    // ewma: what a latency sample measures. ttft: time to the first content byte; tpot: time per
    // output token after it (from the answer's usage); total: the whole response.
    std::string latency_strategy = "ttft";
    HealthChecksConfig checks;
    std::string base_path = "/v1";  // our extension: prefix of every forwarded path
    // LLM awareness (issue 5). provider: openai | azure-openai | anthropic | deepseek | gemini |
    // mistral | openrouter | ollama | vllm | openai-compatible. Its defaults are applied by the
    // loader where the file is silent.
    std::string provider = "openai-compatible";
    UpstreamAuth auth;
    bool pass_client_auth = true;  // default: false when auth is set
    StringPairs options;           // body field -> JSON text of its new value (flat overwrite)
    StringPairs model_map;         // client model -> upstream model
    std::string api_version;       // azure-openai: ?api-version=
    RetryBudgetConfig retry_budget;
    bool operator==(const UpstreamConfig&) const = default;
};

// routes[].plugins.ai-proxy.hedge and ai-proxy-multi's: when no attempt has produced its first
// content byte (the commit point) after_ms after it was sent, the same request goes to the next
// node of the plan as well; the first to reach the commit point wins and the others are closed.
// `max` hedges per request (1..3), each after_ms after the attempt sent before it. A hedge is an
// attempt: it counts against retry and spends from the retry budget. Absent: no hedging.
struct HedgeConfig {
    Milliseconds after{0};  // after_ms, > 0
    int max = 1;
    bool operator==(const HedgeConfig&) const = default;
};

// routes[].plugins.ai-proxy
struct AiProxyConfig {
    std::string upstream_id;           // required, must name an upstream
    std::string upstream_fallback_id;  // optional, must name an upstream when set
    Milliseconds timeout{30'000};  // per attempt: connect + TLS + response header; stream idle gap
    // The whole request until its response is committed (first byte to the client): every
    // attempt, retry and fallback together; each attempt gets min(timeout, what is left) and
    // none starts after it. A committed stream runs on under timeout and the upstream's read
    // bound. Unset: no bound beyond the attempts' own.
    std::optional<Milliseconds> deadline;
    int retry = 1;  // attempts = 1 + retry
    bool enable_upstream_host = true;
    std::vector<int> retry_on{429, 500, 502, 503, 504};
    // A stream's events before its first content (role chunk, message_start, ping ...) are held,
    // up to preamble_max_bytes, so a failure or an error event before content is retried;
    // false: a stream commits with its first byte.
    bool hold_preamble = true;
    std::size_t preamble_max_bytes = 16 * 1024;
    std::optional<HedgeConfig> hedge;  // unset: no hedging
    bool operator==(const AiProxyConfig&) const = default;
};

// consumers[]: who may call routes with key-auth (APISIX shape: username, plugins.key-auth.key).
// The key is kept only as its SHA-256: the file's clear key is hashed when read, and the Admin
// API stores key_sha256 in place of the key it was given.
struct ConsumerConfig {
    std::string id;  // the username: consumers are keyed by it, as in APISIX
    StringPairs labels;
    std::string key_sha256;  // lower-case hex; empty: the consumer has no key-auth key
    std::string group_id;    // a consumer_groups id whose limits apply too; empty: none
    bool operator==(const ConsumerConfig&) const = default;
};

// routes[].plugins.key-auth: the key comes from `header` (default apikey) or, so OpenAI SDKs
// work unchanged, from "Authorization: Bearer <key>".
struct KeyAuthConfig {
    std::string header = "apikey";
    bool hide_credentials = true;  // the key never reaches the upstream
    bool operator==(const KeyAuthConfig&) const = default;
};

// routes[].plugins.ip-restriction (APISIX): exactly one of whitelist / blacklist, each a
// non-empty list of IPs or CIDRs (IPv4 or IPv6), checked against the client address (real_ip's).
struct IpRestrictionConfig {
    std::vector<std::string> whitelist;
    std::vector<std::string> blacklist;
    std::string message = "Your IP address is not allowed";
    int response_code = 403;
    bool operator==(const IpRestrictionConfig&) const = default;
};

// routes[].plugins.ai-proxy-multi (APISIX compatible). Each instance becomes an upstream of
// one node: the instance name is its id, override.endpoint (or the provider's public endpoint)
// its node, with the instance's weight and priority; provider, auth, options, checks and
// model_map mean what they mean on an upstream.
struct AiProxyMultiConfig {
    std::vector<UpstreamConfig> instances;
    std::string algorithm = "roundrobin";  // balancer.algorithm: roundrobin | chash
    std::string hash_on = "vars";          // balancer.hash_on (chash)
    std::string key;                       // balancer.key (chash)
    // fallback_strategy set (any value): connection failures and timeouts move on to the next
    // instance. http_429 / http_5xx add those statuses; fallback_http_statuses adds more.
    // Unset: a request never leaves the instance it was given (APISIX).
    bool fallback = false;
    std::vector<int> fallback_statuses;
    std::optional<int> max_retries;                       // unset: every instance may be tried
    std::optional<Milliseconds> retry_on_failure_within;  // only failures this fast move on
    Milliseconds timeout{30'000};                         // per attempt, as ai-proxy's
    std::optional<Milliseconds> deadline;                 // the whole request, as ai-proxy's
    bool hold_preamble = true;                            // as ai-proxy's
    std::size_t preamble_max_bytes = 16 * 1024;           // as ai-proxy's
    RetryBudgetConfig retry_budget;                       // of the instances as one set
    std::optional<HedgeConfig> hedge;                     // as ai-proxy's
    bool operator==(const AiProxyMultiConfig&) const = default;
};

// Which counter a request of a limited route counts against (APISIX key_type + key).
// var: remote_addr | consumer_name (key-auth; remote_addr when there is none) | http_<header>
// (remote_addr when the header is missing). constant: every request of the route shares one.
struct LimitKey {
    std::string type = "var";  // var | constant
    std::string var = "remote_addr";
    bool operator==(const LimitKey&) const = default;
};

// policy: redis (APISIX's redis_* fields): the plugin's counters live in one Redis shared by
// every gateway node, each check-and-update one atomic script. Unset: policy local (per process).
struct RedisPolicyConfig {
    std::string host;
    int port = 6379;
    std::string username;  // empty: AUTH with the password alone (Redis < 6 style)
    std::string password;  // empty: no AUTH
    int database = 0;
    Milliseconds timeout{1000};  // each command; file: redis_timeout in ms, as APISIX
    bool operator==(const RedisPolicyConfig&) const = default;
};

// Where a limit plugin counts. allow_degradation: when Redis cannot answer, admit and count in
// the process instead of refusing with 503.
struct LimitPolicyConfig {
    std::optional<RedisPolicyConfig> redis;
    bool allow_degradation = false;
    bool operator==(const LimitPolicyConfig&) const = default;
};

// routes[].plugins.limit-count: at most `count` requests per fixed window of `time_window`
// seconds, windows aligned to the clock (so a cluster store can agree on them later).
struct LimitCountConfig {
    std::int64_t count = 1;
    std::int64_t time_window = 60;  // seconds
    LimitKey key;
    int rejected_code = 503;
    std::string rejected_msg;  // empty: a message naming the limit
    bool show_limit_quota_header = true;
    LimitPolicyConfig policy;
    bool operator==(const LimitCountConfig&) const = default;
};

// routes[].plugins.limit-req: leaky bucket of `rate` requests per second. Up to `burst` requests
// above the rate are delayed until they fit it (passed at once with nodelay); more are rejected.
struct LimitReqConfig {
    double rate = 1;
    double burst = 0;
    LimitKey key;
    int rejected_code = 503;
    std::string rejected_msg;
    bool nodelay = false;
    LimitPolicyConfig policy;
    bool operator==(const LimitReqConfig&) const = default;
};

// routes[].plugins.ai-rate-limiting: a budget of tokens (or USD, limit_strategy cost) per fixed
// window. Admission reserves an estimate of the request (reserve_tokens, else max_tokens plus a
// prompt estimate) and refuses what does not fit; the end of the answer replaces the
// reservation with the actual usage. Default key: the whole route (key_type constant).
struct AiRateLimitingConfig {
    double limit = 1;                             // tokens, or USD for cost
    std::int64_t time_window = 60;                // seconds
    std::string limit_strategy = "total_tokens";  // total_tokens | prompt_tokens |
                                                  // completion_tokens | cost
    LimitKey key{.type = "constant", .var = ""};
    int rejected_code = 429;
    std::string rejected_msg;
    bool show_limit_quota_header = true;
    std::optional<std::int64_t> reserve_tokens;  // a fixed reservation per request (our extension)
    LimitPolicyConfig policy;
    bool operator==(const AiRateLimitingConfig&) const = default;
};

// routes[].max_concurrent (our extension): at most `limit` requests of the route in flight over
// all workers; up to `queue` more wait for a slot (FIFO) for at most queue_timeout; beyond: 503.
struct MaxConcurrentConfig {
    int limit = 1;
    int queue = 0;
    Milliseconds queue_timeout{30'000};  // file: seconds
    bool operator==(const MaxConcurrentConfig&) const = default;
};

// consumer_groups[] (APISIX shape): limits shared by the consumers whose group_id names the
// group. They apply after the route's, on every key-auth route. A plugin's counter is the
// group's (one budget for all members, across routes) unless its key says otherwise:
// `key: consumer_name` counts per member, `key: remote_addr` per client address.
struct ConsumerGroupConfig {
    std::string id;
    StringPairs labels;
    std::optional<LimitCountConfig> limit_count;
    std::optional<LimitReqConfig> limit_req;
    std::optional<AiRateLimitingConfig> ai_rate_limiting;
    bool operator==(const ConsumerGroupConfig&) const = default;
};

// routes[].vars: [["post_arg.model", "~~", "^local-"], ...]; all must hold. APISIX operators:
// ==, ~=, >, <, >=, <=, ~~ (regex), ~* (regex, case-insensitive), in, has, ! (negates the next).
struct VarCondition {
    std::string
        var;  // http_<header>, arg_<query>, cookie_<name>, remote_addr, uri, post_arg.<path>
    std::string op;
    // JSON text of each right-hand value ("\"^local-\"", "5", "true"), so 5 and "5" stay
    // apart as in APISIX; one value, several for "in".
    std::vector<std::string> values;
    bool negate = false;
    bool operator==(const VarCondition&) const = default;
};

// A message a prompt plugin adds to a conversation (ai-prompt-template, ai-prompt-decorator).
struct PromptMessage {
    std::string role;  // system | user | assistant
    std::string content;
    bool operator==(const PromptMessage&) const = default;
};

// routes[].plugins.ai-prompt-template (APISIX): the client names a template and gives its
// variables; the template, its {{var}} placeholders filled, becomes the request body.
struct PromptTemplate {
    std::string name;
    std::string template_json;  // the template object as compact JSON text
    bool operator==(const PromptTemplate&) const = default;
};
struct AiPromptTemplateConfig {
    std::vector<PromptTemplate> templates;
    bool operator==(const AiPromptTemplateConfig&) const = default;
};

// routes[].plugins.ai-prompt-decorator (APISIX): messages put before and after the client's.
struct AiPromptDecoratorConfig {
    std::vector<PromptMessage> prepend;
    std::vector<PromptMessage> append;
    bool operator==(const AiPromptDecoratorConfig&) const = default;
};

// routes[].plugins.ai-request-rewrite (APISIX): the client's body goes to an LLM as the user
// message under `prompt` as the system message; the answer's text becomes the request body.
// provider, auth, options and override.endpoint mean what they mean on an ai-proxy-multi
// instance, and are kept as one (`llm`, one node; ssl_verify is its tls.verify).
struct AiRequestRewriteConfig {
    std::string prompt;
    UpstreamConfig llm;
    Milliseconds timeout{30'000};  // the whole call: connect, send, answer (at most 60 s)
    bool operator==(const AiRequestRewriteConfig&) const = default;
};

// routes[].plugins.ai-prompt-guard (APISIX): PCRE patterns over the prompt's text.
struct AiPromptGuardConfig {
    bool match_all_roles = false;                 // false: user messages only
    bool match_all_conversation_history = false;  // false: the last message only
    std::vector<std::string> allow_patterns;      // none matches: refused (when any are set)
    std::vector<std::string> deny_patterns;       // any matches: refused
    bool operator==(const AiPromptGuardConfig&) const = default;
};

// routes[].plugins.ai-response-rewrite (ours): the assistant's text on its way to the client.
struct TextRedaction {
    std::string pattern;  // PCRE
    std::string replace;
    bool operator==(const TextRedaction&) const = default;
};
struct AiResponseRewriteConfig {
    std::vector<TextRedaction> redact;
    std::string prepend_text;
    std::string append_text;
    std::size_t max_holdback_chars = 64;  // a stream holds back at most this much text
    Milliseconds max_holdback_ms{50};     // held text leaves after this pause at the latest
    bool operator==(const AiResponseRewriteConfig&) const = default;
};

// A route's `log` block: what its access-log lines may carry besides the metadata. Bodies are
// off by default: prompts and answers are often personal or confidential.
struct RouteLogConfig {
    bool payloads = false;                  // request_body and response_body fields
    std::size_t max_payload_bytes = 16384;  // each body is cut here (marked as truncated)
    bool operator==(const RouteLogConfig&) const = default;
};

struct RouteConfig {
    std::string id;
    std::vector<std::string> uris;     // "uri" or "uris"; "/x" exact, "/x/*" prefix on "/x/"
    std::vector<std::string> methods;  // upper case; empty = any
    std::vector<std::string> hosts;    // "host" or "hosts"; "*.example.com" allowed; empty = any
    int priority = 0;
    std::vector<VarCondition> vars;
    bool expose_upstream_headers = true;  // route key, or the ai-proxy plugin's
    std::optional<AiProxyConfig> ai_proxy;
    std::optional<AiProxyMultiConfig> ai_proxy_multi;  // a route has one of the two
    std::optional<KeyAuthConfig> key_auth;
    std::optional<IpRestrictionConfig> ip_restriction;
    std::optional<LimitCountConfig> limit_count;
    std::optional<LimitReqConfig> limit_req;
    std::optional<AiRateLimitingConfig> ai_rate_limiting;
    std::optional<MaxConcurrentConfig> max_concurrent;
    std::optional<AiPromptTemplateConfig> ai_prompt_template;
    std::optional<AiPromptDecoratorConfig> ai_prompt_decorator;
    std::optional<AiRequestRewriteConfig> ai_request_rewrite;
    std::optional<AiPromptGuardConfig> ai_prompt_guard;
    std::optional<AiResponseRewriteConfig> ai_response_rewrite;
    RouteLogConfig log;
    bool operator==(const RouteConfig&) const = default;
};

// pricing.<model>: USD per million tokens.
struct ModelPrice {
    double input_per_mtok = 0;
    double output_per_mtok = 0;
    std::optional<double> cached_input_per_mtok;  // unset: cached input costs input_per_mtok
    bool operator==(const ModelPrice&) const = default;
};

// tracing.*: OpenTelemetry traces sent to an OTLP/HTTP collector (JSON encoding). Without an
// endpoint tracing is off and costs nothing.
struct TracingBatchConfig {
    std::size_t max_spans = 512;   // per export
    Milliseconds max_delay{5000};  // a span waits at most this long for its batch
    std::size_t max_queue = 2048;  // spans waiting; more are dropped and counted
    bool operator==(const TracingBatchConfig&) const = default;
};

struct TracingConfig {
    std::string endpoint;  // as written: "http://collector:4318"; "" when tracing is off
    // The endpoint split for the exporter; target ends in /v1/traces (appended unless present).
    std::string host;
    std::uint16_t port = 0;
    std::string target;
    StringPairs headers;  // sent with every export (authorization, tenant)
    double sample_ratio =
        1.0;  // for traces that start here; a caller's sampled flag decides its own
    TracingBatchConfig batch;
    bool enabled() const { return !endpoint.empty(); }
    bool operator==(const TracingConfig&) const = default;
};

struct Config {
    ServerConfig server;
    StatusConfig status;
    LogConfig log;
    AdminConfig admin;
    StorageConfig storage;
    TracingConfig tracing;
    // pricing_file (relative to the config file) is read first; pricing: entries override it.
    std::string pricing_file;
    std::vector<std::pair<std::string, ModelPrice>> pricing;  // model -> price, file order
    std::vector<ConsumerGroupConfig> consumer_groups;
    std::vector<ConsumerConfig> consumers;
    std::vector<UpstreamConfig> upstreams;
    std::vector<RouteConfig> routes;
    bool operator==(const Config&) const = default;
};

}  // namespace aiproxy::config
