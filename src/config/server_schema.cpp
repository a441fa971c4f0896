// server.*, status.* and log.*: the static settings of the process.

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>

#include "aiproxy/common/cidr.hpp"
#include "host_port.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

// More workers than this is a typo, not a machine; each one is a thread with its own pools.
constexpr std::int64_t kMaxWorkers = 1024;
constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};

std::string formatAddress(const ListenAddress& address) {
    bool ipv6 = address.host.find(':') != std::string::npos;
    return (ipv6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

// "host:port", "[::1]:port", ":port" or "port" (the last two on every IPv4 address).
std::optional<ListenAddress> readListenAddress(const Value& value) {
    if (value.json().is_number()) {
        auto port = value.integer(0, 65535);
        if (!port) return std::nullopt;
        return ListenAddress{"0.0.0.0", static_cast<std::uint16_t>(*port)};
    }
    auto text = value.string();
    if (!text) return std::nullopt;
    std::string_view spec = *text;
    if (!spec.empty() && spec.front() == ':') spec.remove_prefix(1);
    std::optional<HostPort> parsed;
    if (isAllDigits(spec)) {
        parsed = parseHostPort("0.0.0.0:" + std::string{spec});
    } else if (spec.size() == text->size()) {
        parsed = parseHostPort(spec);
    }
    if (!parsed || !parsed->port) {
        value.error("must be host:port");
        return std::nullopt;
    }
    if (*parsed->port > 65535) {
        value.error("port must be between 0 and 65535");
        return std::nullopt;
    }
    return ListenAddress{parsed->host, static_cast<std::uint16_t>(*parsed->port)};
}

void readListen(const Value& value, std::vector<ListenAddress>& listen) {
    std::vector<ListenAddress> addresses;
    bool valid = value.forEachElement([&](const Value& element) {
        auto address = readListenAddress(element);
        if (!address) return;
        bool duplicate = address->port != 0 &&
                         std::find(addresses.begin(), addresses.end(), *address) != addresses.end();
        if (duplicate) {
            element.error("duplicate address \"" + formatAddress(*address) + "\"");
            return;
        }
        addresses.push_back(*address);
    });
    if (!valid) return;
    if (value.json().empty()) {
        value.error("must not be empty");
        return;
    }
    listen = std::move(addresses);
}

void readLimits(const Value& value, Limits& limits) {
    ObjectReader{}
        .on("max_header_bytes", [&](const Value& v) { readSize(v, limits.max_header_bytes); })
        .on("max_body_bytes", [&](const Value& v) { readSize(v, limits.max_body_bytes); })
        .on("max_response_header_bytes",
            [&](const Value& v) { readSize(v, limits.max_response_header_bytes); })
        .on("max_response_body_bytes",
            [&](const Value& v) { readSize(v, limits.max_response_body_bytes); })
        .on("header_timeout", [&](const Value& v) { readSeconds(v, limits.header_timeout); })
        .on("body_timeout", [&](const Value& v) { readSeconds(v, limits.body_timeout); })
        .on("keepalive_timeout", [&](const Value& v) { readSeconds(v, limits.keepalive_timeout); })
        .on("send_timeout", [&](const Value& v) { readSeconds(v, limits.send_timeout); })
        .on("max_connections", [&](const Value& v) { readSize(v, limits.max_connections); })
        .read(value);
}

// server.tls: the PEM file names only. The loader resolves them against the config file's folder
// and checks that they can be read; their content is checked when the TLS context is built.
void readServerTls(const Value& value, std::optional<ServerTlsConfig>& tls) {
    ServerTlsConfig files;
    auto path = [](std::string& out) {
        return [&out](const Value& v) {
            auto text = v.string();
            if (!text) return;
            if (text->empty()) {
                v.error("must be a file path");
                return;
            }
            out = *text;
        };
    };
    ObjectReader reader;
    reader.on("cert", path(files.cert))
        .on("key", path(files.key))
        .on("client_ca", path(files.client_ca));
    if (!reader.read(value)) return;
    bool complete = true;
    for (const char* key : {"cert", "key"}) {
        if (reader.seen(key)) continue;
        value.sink().error(memberPath(value.path(), key), "required");
        complete = false;
    }
    if (complete) tls = std::move(files);
}

// server.real_ip: which header names the client, and which peers may set it.
void readRealIp(const Value& value, std::optional<RealIpConfig>& real_ip) {
    RealIpConfig settings;
    ObjectReader reader;
    reader
        .on("header",
            [&](const Value& v) {
                auto name = v.string();
                if (!name) return;
                if (!isHeaderName(*name)) {
                    v.error("must be a header name such as X-Forwarded-For or X-Real-IP");
                    return;
                }
                settings.header = *name;
            })
        .on("trusted_addresses",
            [&](const Value& v) { readAddressList(v, settings.trusted_addresses); })
        .on("recursive", [&](const Value& v) {
            if (auto recursive = v.boolean()) settings.recursive = *recursive;
        });
    if (!reader.read(value)) return;
    if (!reader.seen("trusted_addresses")) {
        value.sink().error(memberPath(value.path(), "trusted_addresses"), "required");
        return;
    }
    real_ip = std::move(settings);
}

}  // namespace

void readAddressList(const Value& value, std::vector<std::string>& out) {
    std::vector<std::string> ranges;
    bool is_list = value.forEachElement([&](const Value& element) {
        auto text = element.string();
        if (!text) return;
        if (!common::Cidr::parse(*text)) {
            element.error(
                "must be an IP address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32 (host "
                "bits zero)");
            return;
        }
        ranges.push_back(*text);
    });
    if (!is_list) return;
    if (value.json().empty()) {
        value.error("must not be empty");
        return;
    }
    out = std::move(ranges);
}

void readServer(const Value& value, ServerConfig& server) {
    ObjectReader{}
        .on("listen", [&](const Value& v) { readListen(v, server.listen); })
        .on("workers",
            [&](const Value& v) {
                if (auto workers = v.integer(0, kMaxWorkers)) {
                    server.workers = static_cast<unsigned>(*workers);
                }
            })
        .on("drain_timeout", [&](const Value& v) { readSeconds(v, server.drain_timeout); })
        .on("limits", [&](const Value& v) { readLimits(v, server.limits); })
        .on("tls", [&](const Value& v) { readServerTls(v, server.tls); })
        .on("real_ip", [&](const Value& v) { readRealIp(v, server.real_ip); })
        .read(value);
}

void readStatus(const Value& value, StatusConfig& status) {
    ObjectReader{}
        .on("enabled",
            [&](const Value& v) {
                if (auto enabled = v.boolean()) status.enabled = *enabled;
            })
        .on("listen",
            [&](const Value& v) {
                if (auto address = readListenAddress(v)) status.listen = *address;
            })
        .read(value);
}

void readLog(const Value& value, LogConfig& log) {
    ObjectReader{}
        .on("level",
            [&](const Value& v) {
                auto level = v.string();
                if (!level) return;
                if (std::find(kLogLevels.begin(), kLogLevels.end(), *level) == kLogLevels.end()) {
                    v.error("must be one of: trace, debug, info, warn, error, critical, off");
                    return;
                }
                log.level = *level;
            })
        .on("access_log",
            [&](const Value& v) {
                auto target = v.string();
                if (!target) return;
                if (target->empty()) {
                    v.error("must be stdout, off or a file path");
                    return;
                }
                log.access_log = *target;
            })
        .read(value);
}

void readAuthFailureLimit(const Value& value, AuthFailureLimitConfig& limit) {
    ObjectReader{}
        .on("max_failures", [&](const Value& v) { readInt(v, 1, limit.max_failures); })
        .on("window", [&](const Value& v) { readSeconds(v, limit.window); })
        .on("max_tracked", [&](const Value& v) { readSize(v, limit.max_tracked); })
        .read(value);
}

void readAdmin(const Value& value, AdminConfig& admin) {
    ObjectReader{}
        .on("auth_failure_limit",
            [&](const Value& v) { readAuthFailureLimit(v, admin.auth_failure_limit); })
        .on("enabled",
            [&](const Value& v) {
                if (auto enabled = v.boolean()) admin.enabled = *enabled;
            })
        .on("listen",
            [&](const Value& v) {
                if (auto address = readListenAddress(v)) admin.listen = *address;
            })
        .on("allow",
            [&](const Value& v) {
                std::vector<std::string> ranges;
                bool is_list = v.forEachElement([&](const Value& element) {
                    auto text = element.string();
                    if (!text) return;
                    if (!common::Cidr::parse(*text)) {
                        element.error("must be an IP address or CIDR range such as 127.0.0.0/8");
                        return;
                    }
                    ranges.push_back(*text);
                });
                if (is_list) admin.allow = std::move(ranges);
            })
        .on("keys",
            [&](const Value& v) {
                std::vector<AdminKey> keys;
                bool is_list = v.forEachElement([&](const Value& element) {
                    AdminKey key;
                    ObjectReader reader;
                    reader
                        .on("key",
                            [&](const Value& k) {
                                auto text = k.string();
                                if (!text) return;
                                // "" (an unset ${VAR:-}) leaves the entry out; short
                                // keys are guessable.
                                if (text->empty()) return;
                                if (text->size() < 16) {
                                    k.error("must be at least 16 characters");
                                    return;
                                }
                                key.key = *text;
                            })
                        .on("role", [&](const Value& r) {
                            auto role = r.string();
                            if (!role) return;
                            if (*role != "admin" && *role != "viewer") {
                                r.error("must be one of: admin, viewer");
                                return;
                            }
                            key.role = *role;
                        });
                    if (!reader.read(element)) return;
                    if (!reader.seen("key")) {
                        element.sink().error(memberPath(element.path(), "key"), "required");
                    }
                    if (!key.key.empty()) keys.push_back(std::move(key));
                });
                if (is_list) admin.keys = std::move(keys);
            })
        .read(value);
}

// An etcd endpoint: http://host:port (the gateway speaks plain HTTP to etcd's JSON gateway).
static bool isEtcdEndpoint(std::string_view url) {
    constexpr std::string_view kScheme = "http://";
    if (url.substr(0, kScheme.size()) != kScheme) return false;
    url.remove_prefix(kScheme.size());
    while (!url.empty() && url.back() == '/')
        url.remove_suffix(1);
    auto colon = url.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || hasSpace(url)) return false;
    auto port = url.substr(colon + 1);
    return !port.empty() && port.size() <= 5 && isAllDigits(port) &&
           std::stoi(std::string{port}) > 0 && std::stoi(std::string{port}) <= 65535 &&
           url.find('/') == std::string_view::npos;
}

void readEtcd(const Value& value, EtcdConfig& etcd) {
    ObjectReader reader;
    reader
        .on("endpoints",
            [&](const Value& v) {
                std::vector<std::string> endpoints;
                bool is_list = v.forEachElement([&](const Value& element) {
                    auto url = element.string();
                    if (!url) return;
                    if (!isEtcdEndpoint(*url)) {
                        element.error("must be http://host:port (etcd's client URL)");
                        return;
                    }
                    endpoints.push_back(*url);
                });
                if (!is_list) return;
                if (v.json().empty()) {
                    v.error("must list at least one endpoint");
                    return;
                }
                etcd.endpoints = std::move(endpoints);
            })
        .on("prefix",
            [&](const Value& v) {
                auto prefix = v.string();
                if (!prefix) return;
                if (prefix->size() < 2 || prefix->front() != '/' || prefix->back() == '/' ||
                    hasSpace(*prefix)) {
                    v.error("must start with '/' and not end with it (like /apisix)");
                    return;
                }
                etcd.prefix = *prefix;
            })
        .on("timeout", [&](const Value& v) { readSeconds(v, etcd.timeout); })
        .on("user",
            [&](const Value& v) {
                if (auto user = v.string()) etcd.user = *user;
            })
        .on("password", [&](const Value& v) {
            if (auto password = v.string()) etcd.password = *password;
        });
    if (!reader.read(value)) return;
    if (etcd.user.empty() != etcd.password.empty()) {
        value.error("user and password go together: give both or neither");
    }
}

void readStorage(const Value& value, StorageConfig& storage) {
    ObjectReader{}
        .on("type",
            [&](const Value& v) {
                auto type = v.string();
                if (!type) return;
                if (*type == "file") {
                    storage.type = StorageConfig::Type::File;
                } else if (*type == "etcd") {
                    storage.type = StorageConfig::Type::Etcd;
                } else {
                    v.error("must be one of: file, etcd");
                }
            })
        .on("etcd", [&](const Value& v) { readEtcd(v, storage.etcd); })
        .on("data_dir",
            [&](const Value& v) {
                auto dir = v.string();
                if (!dir) return;
                if (dir->empty()) {
                    v.error("must be a directory path");
                    return;
                }
                storage.data_dir = *dir;
            })
        .read(value);
}

void readPricing(const Value& value, std::vector<std::pair<std::string, ModelPrice>>& pricing) {
    value.forEachMember([&](const std::string& model, const Value& entry) {
        ModelPrice price;
        auto readPrice = [](const Value& v, double& out) {
            if (!v.json().is_number() || v.json().get<double>() < 0) {
                v.error("must be a number >= 0 (USD per million tokens)");
                return;
            }
            out = v.json().get<double>();
        };
        ObjectReader reader;
        reader.on("input_per_mtok", [&](const Value& v) { readPrice(v, price.input_per_mtok); })
            .on("output_per_mtok", [&](const Value& v) { readPrice(v, price.output_per_mtok); })
            .on("cached_input_per_mtok", [&](const Value& v) {
                double cached = 0;
                readPrice(v, cached);
                price.cached_input_per_mtok = cached;
            });
        if (!reader.read(entry)) return;
        for (const char* key : {"input_per_mtok", "output_per_mtok"}) {
            if (!reader.seen(key)) entry.sink().error(memberPath(entry.path(), key), "required");
        }
        auto existing = std::find_if(pricing.begin(), pricing.end(),
                                     [&](const auto& item) { return item.first == model; });
        if (existing != pricing.end()) {
            existing->second = price;
        } else {
            pricing.emplace_back(model, price);
        }
    });
}

}  // namespace aiproxy::config::detail
