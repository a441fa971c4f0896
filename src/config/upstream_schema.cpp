// upstreams[]: named pools of nodes, where requests to them go (scheme, base path, a provider's
// endpoint), and ai-proxy-multi instances read by the same rules. Beside it: the exchange with a
// node (upstream_exchange_schema.cpp) and the health checks (health_check_schema.cpp).

#include "upstream_schema.hpp"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>

#include "aiproxy/config/provider_defaults.hpp"
#include "host_port.hpp"

namespace aiproxy::config::detail {

void readOneOf(const Value& value, std::initializer_list<std::string_view> allowed,
               std::string& out) {
    auto text = value.string();
    if (!text) return;
    std::string list;
    for (auto name : allowed) {
        if (name == *text) {
            out = *text;
            return;
        }
        list += (list.empty() ? "" : ", ") + std::string{name};
    }
    value.error("must be one of: " + list);
}

namespace {

// Smooth weighted round robin sums weights in an int; this keeps any sane node count far from it.
constexpr std::int64_t kMaxWeight = 1'000'000;

// nodes: {"host:port": weight, ...}
void readNodeMap(const Value& value, std::vector<NodeConfig>& nodes) {
    value.forEachMember([&](const std::string& key, const Value& member) {
        auto parsed = parseHostPort(key);
        if (!parsed || isAllDigits(parsed->host)) {
            member.error("must be host:port");
            return;
        }
        if (parsed->port && (*parsed->port == 0 || *parsed->port > 65535)) {
            member.error("port must be between 1 and 65535");
            return;
        }
        auto weight = member.integer(0, kMaxWeight);
        if (!weight) return;
        nodes.push_back({.host = parsed->host,
                         .port = static_cast<std::uint16_t>(parsed->port.value_or(0)),
                         .weight = static_cast<int>(*weight)});
    });
}

// nodes: [{host, port, weight, priority}, ...]
void readNodeList(const Value& value, std::vector<NodeConfig>& nodes) {
    value.forEachElement([&](const Value& element) {
        NodeConfig node;
        ObjectReader reader;
        reader
            .on("host",
                [&](const Value& v) {
                    auto text = v.string();
                    if (!text) return;
                    if (text->empty()) {
                        v.error("must not be empty");
                    } else if (auto host = parseHost(*text)) {
                        node.host = *host;
                    } else {
                        v.error("must be a host name or IP address");
                    }
                })
            .on("port",
                [&](const Value& v) {
                    if (auto port = v.integer(1, 65535)) {
                        node.port = static_cast<std::uint16_t>(*port);
                    }
                })
            .on("weight",
                [&](const Value& v) {
                    if (auto weight = v.integer(0, kMaxWeight)) {
                        node.weight = static_cast<int>(*weight);
                    }
                })
            .on("priority", [&](const Value& v) {
                readInt(v, std::numeric_limits<int>::min(), node.priority);
            });
        if (!reader.read(element)) return;
        if (!reader.seen("host")) {
            element.sink().error(memberPath(element.path(), "host"), "required");
        }
        nodes.push_back(node);
    });
}

void readNodes(const Value& value, std::vector<NodeConfig>& nodes) {
    if (value.json().is_object()) {
        readNodeMap(value, nodes);
    } else if (value.json().is_array()) {
        readNodeList(value, nodes);
    } else {
        value.error("must be an object or a list");
        return;
    }
    if (value.json().empty()) value.error("at least one node is required");
}

void readScheme(const Value& value, Scheme& scheme) {
    auto text = value.string();
    if (!text) return;
    if (*text == "http") {
        scheme = Scheme::Http;
    } else if (*text == "https") {
        scheme = Scheme::Https;
    } else {
        value.error("must be one of: http, https");
    }
}

// "/v1/" -> "/v1"; "/" -> "" (paths are forwarded as they come).
void readBasePath(const Value& value, std::string& base_path) {
    auto text = value.string();
    if (!text) return;
    if (text->empty() || text->front() != '/') {
        value.error("must start with \"/\"");
        return;
    }
    if (hasSpace(*text) || text->find_first_of("?#") != std::string::npos) {
        value.error(R"(must be a path without spaces, "?" or "#")");
        return;
    }
    auto last = text->find_last_not_of('/');
    text->erase(last == std::string::npos ? 0 : last + 1);
    base_path = *text;
}

// override.endpoint of an ai-proxy-multi instance: "scheme://host[:port][/path]". A path ending
// in an API's own suffix (/chat/completions, /messages) is cut back to its base path, since the
// gateway appends the path the client asked for.
void readEndpoint(const Value& value, UpstreamConfig& upstream, bool& base_path_seen) {
    auto text = value.string();
    if (!text) return;
    std::string_view rest = *text;
    auto separator = rest.find("://");
    std::string_view scheme = separator == std::string_view::npos ? "" : rest.substr(0, separator);
    if (scheme != "http" && scheme != "https") {
        value.error("must be an http:// or https:// URL");
        return;
    }
    rest.remove_prefix(separator + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    auto parsed = parseHostPort(authority);
    if (!parsed || isAllDigits(parsed->host)) {
        value.error("must be an http:// or https:// URL with a valid host");
        return;
    }
    if (parsed->port && (*parsed->port == 0 || *parsed->port > 65535)) {
        value.error("port must be between 1 and 65535");
        return;
    }
    if (hasSpace(path) || path.find_first_of("?#") != std::string_view::npos) {
        value.error(R"(the path must not contain spaces, "?" or "#")");
        return;
    }
    upstream.scheme = scheme == "https" ? Scheme::Https : Scheme::Http;
    upstream.nodes = {{.host = parsed->host,
                       .port = static_cast<std::uint16_t>(parsed->port.value_or(0)),
                       .weight = 1}};
    for (std::string_view suffix : {"/chat/completions", "/messages"}) {
        if (path.ends_with(suffix)) path.remove_suffix(suffix.size());
    }
    while (!path.empty() && path.back() == '/')
        path.remove_suffix(1);
    if (!path.empty()) {
        upstream.base_path = std::string(path);
        base_path_seen = true;
    }
}

// A finite number >= 0.
std::optional<double> readShare(const Value& value) {
    const Json& json = value.json();
    if (!json.is_number() || !std::isfinite(json.get<double>()) || json.get<double>() < 0) {
        value.error("must be a number >= 0");
        return std::nullopt;
    }
    return json.get<double>();
}

enum class UpstreamKind { Upstream, Instance };

void readUpstreamOf(const Value& value, UpstreamConfig& upstream, UpstreamKind kind) {
    bool instance = kind == UpstreamKind::Instance;
    int weight = 1;
    int priority = 0;
    bool endpoint_base_path = false;
    ObjectReader reader;
    if (instance) {
        reader
            .on("name",
                [&](const Value& v) {
                    if (auto id = v.id()) upstream.id = *id;
                })
            .on("weight",
                [&](const Value& v) {
                    if (auto w = v.integer(0, kMaxWeight)) weight = static_cast<int>(*w);
                })
            .on("priority",
                [&](const Value& v) { readInt(v, std::numeric_limits<int>::min(), priority); })
            .on("override", [&](const Value& v) {
                ObjectReader{}
                    .on("endpoint",
                        [&](const Value& e) { readEndpoint(e, upstream, endpoint_base_path); })
                    .read(v);
            });
    } else {
        reader
            .on("id",
                [&](const Value& v) {
                    if (auto id = v.id()) upstream.id = *id;
                })
            .on("nodes", [&](const Value& v) { readNodes(v, upstream.nodes); })
            .on("scheme", [&](const Value& v) { readScheme(v, upstream.scheme); })
            .on("type",
                [&](const Value& v) {
                    readOneOf(v, {"roundrobin", "least_conn", "chash", "ewma"}, upstream.type);
                })
            .on("hash_on",
                [&](const Value& v) {
                    readOneOf(
                        v, {"vars", "header", "cookie", "consumer", "vars_combinations", "session"},
                        upstream.hash_on);
                })
            .on("key",
                [&](const Value& v) {
                    if (auto key = v.string()) upstream.key = *key;
                })
            .on("retry_budget", [&](const Value& v) { readRetryBudget(v, upstream.retry_budget); })
            .on("latency_strategy",
                [&](const Value& v) {
                    readOneOf(v, {"ttft", "tpot", "total"}, upstream.latency_strategy);
                })
            .ignore("name")
            .ignore("desc")
            .on("labels", [&](const Value& v) {
                std::vector<std::pair<std::string, std::string>> labels;
                readLabels(v, labels);
            });
    }
    reader.on("tls", [&](const Value& v) { readTls(v, upstream.tls); })
        .on("timeout", [&](const Value& v) { readTimeouts(v, upstream.timeout); })
        .on("keepalive_pool",
            [&](const Value& v) { readKeepalivePool(v, upstream.keepalive_pool); })
        .on("checks", [&](const Value& v) { readChecks(v, upstream.checks); })
        .on("base_path", [&](const Value& v) { readBasePath(v, upstream.base_path); })
        .on("provider",
            [&](const Value& v) {
                auto name = v.string();
                if (!name) return;
                if (!findProvider(*name)) {
                    v.error("must be one of: " + providerNameList());
                    return;
                }
                upstream.provider = *name;
            })
        .on("auth", [&](const Value& v) { readAuth(v, upstream.auth); })
        .on("pass_client_auth",
            [&](const Value& v) {
                if (auto pass = v.boolean()) upstream.pass_client_auth = *pass;
            })
        .on("options", [&](const Value& v) { readOptions(v, upstream.options); })
        .on("model_map", [&](const Value& v) { readStringMap(v, false, upstream.model_map); })
        .on("api_version", [&](const Value& v) {
            if (auto version = v.string()) upstream.api_version = *version;
        });
    if (!reader.read(value)) return;
    // The provider fills what the upstream leaves out (its public endpoint, scheme, base path).
    const ProviderDefaults* provider = findProvider(upstream.provider);
    bool provider_host = provider && !provider->host.empty();
    bool has_nodes = instance ? !upstream.nodes.empty() : reader.seen("nodes");
    bool scheme_seen = instance ? has_nodes : reader.seen("scheme");
    bool base_path_seen = reader.seen("base_path") || endpoint_base_path;
    if (instance) {
        if (!reader.seen("name")) value.sink().error(memberPath(value.path(), "name"), "required");
        if (!reader.seen("provider")) {
            value.sink().error(memberPath(value.path(), "provider"), "required");
        }
    } else if (!reader.seen("id")) {
        value.sink().error(memberPath(value.path(), "id"), "required");
    }
    if (!has_nodes) {
        if (provider_host) {
            upstream.nodes.push_back(
                {.host = std::string{provider->host}, .port = provider->port, .weight = 1});
        } else if (instance) {
            if (reader.seen("provider")) {
                value.sink().error(
                    memberPath(memberPath(value.path(), "override"), "endpoint"),
                    "required (provider " + upstream.provider + " has no public endpoint)");
            }
        } else {
            value.sink().error(
                memberPath(value.path(), "nodes"),
                "required (provider " + upstream.provider + " has no public endpoint)");
        }
    }
    if (provider && !scheme_seen) upstream.scheme = provider->scheme;
    if (provider && !base_path_seen) {
        upstream.base_path = std::string{provider->base_path};
        while (!upstream.base_path.empty() && upstream.base_path.back() == '/')
            upstream.base_path.pop_back();
    }
    if (provider && provider->deployment_paths && upstream.api_version.empty()) {
        upstream.api_version = std::string{provider->api_version};
    }
    // With its own credentials, an upstream does not see the client's (unless asked to).
    if (!reader.seen("pass_client_auth")) upstream.pass_client_auth = upstream.auth.empty();
    if (upstream.type == "chash" && upstream.hash_on != "consumer" &&
        upstream.hash_on != "session" && upstream.key.empty()) {
        value.sink().error(memberPath(value.path(), "key"), "missing key");
    }
    if (reader.seen("latency_strategy") && upstream.type != "ewma") {
        value.sink().error(memberPath(value.path(), "latency_strategy"),
                           "needs type ewma (the only balancer that reads latency)");
    }
    // Session affinity is a property of the hashing balancer: anything else would ignore it.
    if (upstream.hash_on == "session" && upstream.type != "chash") {
        value.sink().error(memberPath(value.path(), "hash_on"),
                           "session needs type chash (it pins sessions on the hash ring)");
    }
    std::uint16_t default_port = upstream.scheme == Scheme::Https ? 443 : 80;
    for (NodeConfig& node : upstream.nodes) {
        if (node.port == 0) node.port = default_port;
        if (instance) {
            node.weight = weight;
            node.priority = priority;
        }
    }
}

}  // namespace

void readRetryBudget(const Value& value, RetryBudgetConfig& budget) {
    ObjectReader{}
        .on("enabled",
            [&](const Value& v) {
                if (auto on = v.boolean()) budget.enabled = *on;
            })
        .on("ratio",
            [&](const Value& v) {
                if (auto ratio = readShare(v)) budget.ratio = *ratio;
            })
        .on("min_per_second",
            [&](const Value& v) {
                if (auto rate = readShare(v)) budget.min_per_second = *rate;
            })
        .read(value);
}

void readUpstream(const Value& value, UpstreamConfig& upstream) {
    readUpstreamOf(value, upstream, UpstreamKind::Upstream);
}

void readInstance(const Value& value, UpstreamConfig& instance) {
    readUpstreamOf(value, instance, UpstreamKind::Instance);
}

}  // namespace aiproxy::config::detail
