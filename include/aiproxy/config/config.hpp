#pragma once
// Plain, validated configuration structs. Only the config folder knows YAML or JSON; everything
// else receives these structs (see ARCHITECTURE.md, section 3).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
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

struct ServerConfig {
    std::vector<ListenAddress> listen{{"0.0.0.0", 9080}};
    unsigned workers = 0;  // 0 = std::thread::hardware_concurrency()
    Limits limits;
    Milliseconds drain_timeout{30'000};
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

// upstreams[].timeout.{connect,send,read}: seconds in the file (fractions allowed), APISIX
// defaults.
struct UpstreamTimeouts {
    Milliseconds connect{60'000};
    Milliseconds send{60'000};
    Milliseconds read{60'000};
    bool operator==(const UpstreamTimeouts&) const = default;
};

struct KeepalivePool {
    std::size_t size = 320;             // idle connections kept per node and worker
    Milliseconds idle_timeout{60'000};  // file: seconds
    std::size_t requests = 1000;        // requests per connection before it is closed
    bool operator==(const KeepalivePool&) const = default;
};

struct UpstreamConfig {
    std::string id;
    std::vector<NodeConfig> nodes;
    Scheme scheme = Scheme::Http;
    TlsConfig tls;
    UpstreamTimeouts timeout;
    KeepalivePool keepalive_pool;
    std::string type = "roundrobin";  // only roundrobin for now; anything else is an error
    std::string base_path = "/v1";    // our extension: prefix of every forwarded path
    bool operator==(const UpstreamConfig&) const = default;
};

// routes[].plugins.ai-proxy
struct AiProxyConfig {
    std::string upstream_id;           // required, must name an upstream
    std::string upstream_fallback_id;  // optional, must name an upstream when set
    Milliseconds timeout{30'000};  // per attempt: connect + TLS + response header; stream idle gap
    int retry = 1;                 // attempts = 1 + retry
    bool enable_upstream_host = true;
    std::vector<int> retry_on{429, 500, 502, 503, 504};
    bool operator==(const AiProxyConfig&) const = default;
};

struct RouteConfig {
    std::string id;
    std::vector<std::string> uris;     // "uri" or "uris"; "/x" exact, "/x/*" prefix on "/x/"
    std::vector<std::string> methods;  // upper case; empty = any
    std::vector<std::string> hosts;    // "host" or "hosts"; "*.example.com" allowed; empty = any
    int priority = 0;
    bool expose_upstream_headers = true;  // route key, or the ai-proxy plugin's
    std::optional<AiProxyConfig> ai_proxy;
    bool operator==(const RouteConfig&) const = default;
};

struct Config {
    ServerConfig server;
    StatusConfig status;
    LogConfig log;
    std::vector<UpstreamConfig> upstreams;
    std::vector<RouteConfig> routes;
    bool operator==(const Config&) const = default;
};

}  // namespace aiproxy::config
