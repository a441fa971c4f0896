// upstreams[] and ai-proxy-multi instances: how a request is exchanged with a node (tls, timeout,
// keepalive_pool) and what the gateway adds to it (auth, options, model_map).

#include <algorithm>
#include <cctype>
#include <string>

#include "host_port.hpp"
#include "upstream_schema.hpp"

namespace aiproxy::config::detail {

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

// A header or query parameter name: an HTTP token.
bool isToken(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
    });
}

void readStringMap(const Value& value, bool names_are_tokens, StringPairs& out) {
    StringPairs pairs;
    bool is_object = value.forEachMember([&](const std::string& name, const Value& member) {
        if (names_are_tokens && !isToken(name)) {
            member.error("must be a valid header or parameter name");
            return;
        }
        auto text = member.string();
        if (!text) return;
        if (text->find_first_of("\r\n") != std::string::npos) {
            member.error("must not contain line breaks");
            return;
        }
        pairs.emplace_back(name, *text);
    });
    if (is_object) out = std::move(pairs);
}

void readAuth(const Value& value, UpstreamAuth& auth) {
    ObjectReader{}
        .on("header", [&](const Value& v) { readStringMap(v, true, auth.header); })
        .on("query", [&](const Value& v) { readStringMap(v, true, auth.query); })
        .read(value);
}

// options: {field: any JSON value}, kept as JSON text for the body rewrite.
void readOptions(const Value& value, StringPairs& options) {
    StringPairs pairs;
    bool is_object = value.forEachMember([&](const std::string& name, const Value& member) {
        pairs.emplace_back(name, member.json().dump());
    });
    if (is_object) options = std::move(pairs);
}

}  // namespace aiproxy::config::detail
