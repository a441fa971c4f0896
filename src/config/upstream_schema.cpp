// upstreams[]: named pools of nodes and how to reach them.

#include <algorithm>
#include <limits>

#include "host_port.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
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

void readTls(const Value& value, TlsConfig& tls) {
    ObjectReader{}
        .on("verify",
            [&](const Value& v) {
                if (auto verify = v.boolean()) tls.verify = *verify;
            })
        .on("client_hello_timeout",
            [&](const Value& v) {
                if (auto timeout = v.milliseconds()) tls.client_hello_timeout = *timeout;
            })
        .on("sni",
            [&](const Value& v) {
                auto sni = v.string();
                if (!sni) return;
                if (!sni->empty() && !isValidHost(*sni)) {
                    v.error("must be a host name");
                    return;
                }
                tls.sni = *sni;
            })
        .read(value);
}

void readTimeouts(const Value& value, UpstreamTimeouts& timeout) {
    ObjectReader{}
        .on("connect", [&](const Value& v) { readSeconds(v, timeout.connect); })
        .on("send", [&](const Value& v) { readSeconds(v, timeout.send); })
        .on("read", [&](const Value& v) { readSeconds(v, timeout.read); })
        .read(value);
}

void readKeepalivePool(const Value& value, KeepalivePool& pool) {
    ObjectReader{}
        .on("size", [&](const Value& v) { readSize(v, pool.size); })
        .on("idle_timeout", [&](const Value& v) { readSeconds(v, pool.idle_timeout); })
        .on("requests", [&](const Value& v) { readSize(v, pool.requests); })
        .read(value);
}

void readType(const Value& value, std::string& type) {
    auto text = value.string();
    if (!text) return;
    if (*text != "roundrobin") {
        value.error("unsupported balancer type \"" + *text + "\" (supported: roundrobin)");
        return;
    }
    type = *text;
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

}  // namespace

void readUpstream(const Value& value, UpstreamConfig& upstream) {
    ObjectReader reader;
    reader
        .on("id",
            [&](const Value& v) {
                if (auto id = v.id()) upstream.id = *id;
            })
        .on("nodes", [&](const Value& v) { readNodes(v, upstream.nodes); })
        .on("scheme", [&](const Value& v) { readScheme(v, upstream.scheme); })
        .on("tls", [&](const Value& v) { readTls(v, upstream.tls); })
        .on("timeout", [&](const Value& v) { readTimeouts(v, upstream.timeout); })
        .on("keepalive_pool",
            [&](const Value& v) { readKeepalivePool(v, upstream.keepalive_pool); })
        .on("type", [&](const Value& v) { readType(v, upstream.type); })
        .on("base_path", [&](const Value& v) { readBasePath(v, upstream.base_path); })
        .ignore("name")
        .ignore("desc")
        .ignore("labels");
    if (!reader.read(value)) return;
    for (const char* key : {"id", "nodes"}) {
        if (!reader.seen(key)) value.sink().error(memberPath(value.path(), key), "required");
    }
    std::uint16_t default_port = upstream.scheme == Scheme::Https ? 443 : 80;
    for (NodeConfig& node : upstream.nodes) {
        if (node.port == 0) node.port = default_port;
    }
}

}  // namespace aiproxy::config::detail
