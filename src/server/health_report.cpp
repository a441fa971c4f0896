#include "health_report.hpp"

#include <ctime>
#include <set>
#include <utility>

#include "aiproxy/observe/metrics_registry.hpp"

namespace aiproxy::server {
namespace {

std::string isoTime(upstream::WallClock::time_point time) {
    auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    std::time_t seconds = millis / 1000;
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    char text[96];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(millis % 1000));
    return text;
}

}  // namespace

config::Document healthReport(std::string_view id, const upstream::UpstreamRuntime& runtime,
                              const std::vector<std::string>& names) {
    auto now = upstream::Clock::now();
    auto wall = upstream::WallClock::now();
    config::Document nodes = config::Document::array();
    auto reports = runtime.report(now, wall);
    for (std::size_t i = 0; i < reports.size(); ++i) {
        const auto& report = reports[i];
        const auto& health = report.health;
        config::Document node;
        if (i < names.size()) node["name"] = names[i];
        node["address"] = report.address;
        node["weight"] = report.weight;
        node["priority"] = report.priority;
        node["state"] = std::string(upstream::nodeStateName(health.state));
        node["consecutive_failures"] = health.consecutive_failures;
        node["tcp_failures"] = health.tcp_failures;
        node["timeouts"] = health.timeouts;
        node["http_failures"] = health.http_failures;
        node["probe_failures"] = health.probe_failures;
        node["ejected_until"] = health.ejected_until
                                    ? config::Document(isoTime(*health.ejected_until))
                                    : config::Document(nullptr);
        node["ejection_remaining_ms"] = health.ejection_remaining.count();
        node["last_ejected_at"] = health.last_ejected_at
                                      ? config::Document(isoTime(*health.last_ejected_at))
                                      : config::Document(nullptr);
        node["last_error"] = health.last_error.empty() ? config::Document(nullptr)
                                                       : config::Document(health.last_error);
        node["ejections"] = health.ejections;
        node["in_flight"] = report.in_flight;
        node["latency_ms"] = report.latency_seconds * 1000;
        nodes.push_back(std::move(node));
    }
    config::Document out;
    out["id"] = std::string(id);
    out["nodes"] = std::move(nodes);
    out["failing_open"] = runtime.failingOpen();
    return out;
}

void appendNodeMetrics(std::string& out, const Snapshot& snapshot) {
    std::vector<const upstream::Upstream*> upstreams;
    for (const auto& upstream : snapshot.upstreams)
        upstreams.push_back(upstream.get());
    for (const auto& compiled : snapshot.compiled) {
        if (!compiled.proxy || !compiled.proxy->route().multi) continue;
        for (const auto& instance : compiled.proxy->route().upstreams)
            upstreams.push_back(instance.get());
    }
    auto now = upstream::Clock::now();
    std::string healthy;
    std::string ejections;
    std::set<std::pair<std::string, std::string>> seen;  // an instance may share an id
    for (const auto* upstream : upstreams) {
        const auto& runtime = *upstream->runtime();
        for (std::size_t i = 0; i < runtime.size(); ++i) {
            const auto& node = runtime.node(i);
            if (!seen.emplace(upstream->id(), node.address()).second) continue;
            std::string labels = "{upstream=\"" + observe::escapeLabelValue(upstream->id()) +
                                 "\",node=\"" + observe::escapeLabelValue(node.address()) + "\"} ";
            healthy += "aiproxy_upstream_node_healthy" + labels +
                       (node.health().healthy(now) ? "1\n" : "0\n");
            ejections += "aiproxy_upstream_node_ejections_total" + labels +
                         std::to_string(node.health().ejections()) + "\n";
        }
    }
    out +=
        "# HELP aiproxy_upstream_node_healthy 1 while the node takes traffic: not ejected, not "
        "marked down by probes.\n# TYPE aiproxy_upstream_node_healthy gauge\n";
    out += healthy;
    out +=
        "# HELP aiproxy_upstream_node_ejections_total Passive ejections of the node.\n"
        "# TYPE aiproxy_upstream_node_ejections_total counter\n";
    out += ejections;
}

}  // namespace aiproxy::server
