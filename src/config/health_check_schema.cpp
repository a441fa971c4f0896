// upstreams[].checks: active probes and passive counting of the answers, APISIX's field names.

#include <string>
#include <vector>

#include "host_port.hpp"
#include "upstream_schema.hpp"

namespace aiproxy::config::detail {
namespace {

void readStatuses(const Value& value, std::vector<int>& statuses) {
    std::vector<int> list;
    bool is_list = value.forEachElement([&](const Value& element) {
        if (auto status = element.integer(200, 599)) list.push_back(static_cast<int>(*status));
    });
    if (is_list) statuses = std::move(list);
}

void readHealthy(const Value& value, bool active, HealthyConfig& healthy) {
    ObjectReader reader;
    reader.on("http_statuses", [&](const Value& v) { readStatuses(v, healthy.http_statuses); })
        .on("successes", [&](const Value& v) { readInt(v, 1, healthy.successes); });
    if (active) {
        reader.on("interval", [&](const Value& v) { readSeconds(v, healthy.interval); });
    }
    reader.read(value);
}

void readUnhealthy(const Value& value, bool active, UnhealthyConfig& unhealthy) {
    ObjectReader reader;
    reader.on("http_statuses", [&](const Value& v) { readStatuses(v, unhealthy.http_statuses); })
        .on("http_failures", [&](const Value& v) { readInt(v, 1, unhealthy.http_failures); })
        .on("tcp_failures", [&](const Value& v) { readInt(v, 1, unhealthy.tcp_failures); })
        .on("timeouts", [&](const Value& v) { readInt(v, 1, unhealthy.timeouts); });
    if (active) {
        reader.on("interval", [&](const Value& v) { readSeconds(v, unhealthy.interval); });
    }
    reader.read(value);
}

void readActiveCheck(const Value& value, ActiveCheckConfig& active) {
    ObjectReader{}
        .on("type",
            [&](const Value& v) {
                readOneOf(v, {"http", "https", "tcp"}, active.type);
            })
        .on("timeout", [&](const Value& v) { readSeconds(v, active.timeout); })
        .on("http_path",
            [&](const Value& v) {
                auto path = v.string();
                if (!path) return;
                if (path->empty() || path->front() != '/' || hasSpace(*path)) {
                    v.error("must be a path starting with \"/\"");
                    return;
                }
                active.http_path = *path;
            })
        .on("http_method",
            [&](const Value& v) {
                readOneOf(v, {"GET", "HEAD", "POST"}, active.http_method);
            })
        .on("host",
            [&](const Value& v) {
                auto host = v.string();
                if (host && (host->empty() || isValidHost(*host)))
                    active.host = *host;
                else if (host)
                    v.error("must be a host name");
            })
        .on("port",
            [&](const Value& v) {
                if (auto port = v.integer(1, 65535))
                    active.port = static_cast<std::uint16_t>(*port);
            })
        .on("https_verify_certificate",
            [&](const Value& v) {
                if (auto verify = v.boolean()) active.https_verify_certificate = *verify;
            })
        .on("req_headers",
            [&](const Value& v) {
                std::vector<std::string> headers;
                bool is_list = v.forEachElement([&](const Value& element) {
                    auto text = element.string();
                    if (!text) return;
                    auto colon = text->find(':');
                    if (colon == std::string::npos || !isToken(text->substr(0, colon)) ||
                        text->find_first_of("\r\n") != std::string::npos) {
                        element.error("must be \"Name: value\"");
                        return;
                    }
                    headers.push_back(*text);
                });
                if (is_list) active.req_headers = std::move(headers);
            })
        .on("healthy", [&](const Value& v) { readHealthy(v, true, active.healthy); })
        .on("unhealthy", [&](const Value& v) { readUnhealthy(v, true, active.unhealthy); })
        .ignore("concurrency")
        .read(value);
}

void readPassiveCheck(const Value& value, PassiveCheckConfig& passive) {
    ObjectReader{}
        .on("healthy", [&](const Value& v) { readHealthy(v, false, passive.healthy); })
        .on("unhealthy", [&](const Value& v) { readUnhealthy(v, false, passive.unhealthy); })
        .on("cooldown", [&](const Value& v) { readSeconds(v, passive.cooldown); })
        .on("max_cooldown", [&](const Value& v) { readSeconds(v, passive.max_cooldown); })
        .ignore("type")
        .read(value);
    if (passive.max_cooldown < passive.cooldown) {
        value.sink().error(memberPath(value.path(), "max_cooldown"), "must be >= cooldown");
    }
}

}  // namespace

void readChecks(const Value& value, HealthChecksConfig& checks) {
    ObjectReader{}
        .on("active",
            [&](const Value& v) {
                checks.active.emplace();
                readActiveCheck(v, *checks.active);
            })
        .on("passive", [&](const Value& v) { readPassiveCheck(v, checks.passive); })
        .read(value);
}

}  // namespace aiproxy::config::detail
