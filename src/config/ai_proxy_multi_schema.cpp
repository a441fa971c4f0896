// routes[].plugins.ai-proxy-multi: APISIX's field names and meanings (see AiProxyMultiConfig).

#include <limits>
#include <set>

#include "upstream_schema.hpp"

namespace aiproxy::config::detail {
namespace {

void readBalancer(const Value& value, AiProxyMultiConfig& multi) {
    ObjectReader reader;
    reader
        .on("algorithm",
            [&](const Value& v) {
                auto text = v.string();
                if (!text) return;
                if (*text != "roundrobin" && *text != "chash") {
                    v.error("must be one of: roundrobin, chash");
                    return;
                }
                multi.algorithm = *text;
            })
        .on("hash_on",
            [&](const Value& v) {
                auto text = v.string();
                if (!text) return;
                static const std::set<std::string> kAllowed{
                    "vars", "header", "cookie", "consumer", "vars_combinations", "session"};
                if (!kAllowed.contains(*text)) {
                    v.error(
                        "must be one of: vars, header, cookie, consumer, vars_combinations, "
                        "session");
                    return;
                }
                multi.hash_on = *text;
            })
        .on("key", [&](const Value& v) {
            if (auto key = v.string()) multi.key = *key;
        });
    if (!reader.read(value)) return;
    if (multi.algorithm == "chash" && multi.hash_on != "consumer" && multi.hash_on != "session" &&
        multi.key.empty()) {
        value.sink().error(memberPath(value.path(), "key"), "missing key");
    }
    if (multi.hash_on == "session" && multi.algorithm != "chash") {
        value.sink().error(memberPath(value.path(), "hash_on"),
                           "session needs algorithm chash (it pins sessions on the hash ring)");
    }
}

// A string or a list of strings.
void readFallbackStrategy(const Value& value, AiProxyMultiConfig& multi) {
    auto one = [&](const Value& v) {
        auto text = v.string();
        if (!text) return;
        if (*text == "http_429") {
            multi.fallback_statuses.push_back(429);
        } else if (*text == "http_5xx") {
            for (int status = 500; status < 600; ++status)
                multi.fallback_statuses.push_back(status);
        } else if (*text != "instance_health_and_rate_limiting" && *text != "rate_limiting") {
            v.error(
                "must be one of: instance_health_and_rate_limiting, rate_limiting, http_429, "
                "http_5xx");
            return;
        }
        multi.fallback = true;
    };
    if (value.json().is_array()) {
        value.forEachElement(one);
    } else {
        one(value);
    }
}

}  // namespace

void readAiProxyMulti(const Value& value, AiProxyMultiConfig& multi,
                      std::optional<bool>& expose_upstream_headers) {
    std::vector<int> extra_statuses;
    ObjectReader reader;
    reader
        .on("instances",
            [&](const Value& v) {
                std::set<std::string> names;
                bool is_list = v.forEachElement([&](const Value& element) {
                    UpstreamConfig instance;
                    readInstance(element, instance);
                    if (!instance.id.empty() && !names.insert(instance.id).second) {
                        element.sink().error(memberPath(element.path(), "name"),
                                             "duplicate instance name \"" + instance.id + "\"");
                    }
                    multi.instances.push_back(std::move(instance));
                });
                if (is_list && multi.instances.empty())
                    v.error("at least one instance is required");
            })
        .on("balancer", [&](const Value& v) { readBalancer(v, multi); })
        .on("fallback_strategy", [&](const Value& v) { readFallbackStrategy(v, multi); })
        .on("fallback_http_statuses",
            [&](const Value& v) {
                v.forEachElement([&](const Value& element) {
                    if (auto status = element.integer(100, 599)) {
                        extra_statuses.push_back(static_cast<int>(*status));
                    }
                });
            })
        .on("max_retries",
            [&](const Value& v) {
                int retries = -1;  // stays -1 when the value is invalid (reported)
                readInt(v, 0, retries);
                if (retries >= 0) multi.max_retries = retries;
            })
        .on("retry_on_failure_within_ms",
            [&](const Value& v) {
                if (auto within = v.milliseconds()) multi.retry_on_failure_within = *within;
            })
        .on("timeout",
            [&](const Value& v) {
                if (auto timeout = v.milliseconds()) multi.timeout = *timeout;
            })
        .on("deadline",
            [&](const Value& v) {
                if (auto deadline = v.milliseconds()) multi.deadline = *deadline;
            })
        .on("hold_preamble",
            [&](const Value& v) {
                if (auto hold = v.boolean()) multi.hold_preamble = *hold;
            })
        .on("retry_budget", [&](const Value& v) { readRetryBudget(v, multi.retry_budget); })
        .on("hedge", [&](const Value& v) { readHedge(v, multi.hedge); })
        .on("preamble_max_bytes", [&](const Value& v) { readSize(v, multi.preamble_max_bytes); })
        .on("expose_upstream_headers",
            [&](const Value& v) { expose_upstream_headers = v.boolean(); });
    if (!reader.read(value, ObjectReader::Unknown::Warning)) return;
    if (!reader.seen("instances")) {
        value.sink().error(memberPath(value.path(), "instances"), "required");
    }
    multi.fallback_statuses.insert(multi.fallback_statuses.end(), extra_statuses.begin(),
                                   extra_statuses.end());
}

}  // namespace aiproxy::config::detail
