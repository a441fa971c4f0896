// server.*, status.* and log.*: the static settings of the process.

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>

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

}  // namespace

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

}  // namespace aiproxy::config::detail
