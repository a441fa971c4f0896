// routes[].plugins.ai-proxy: one upstream by id, an optional fallback, and the timeouts and
// retries of its attempts.

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

void readUpstreamRef(const Value& value, const std::set<std::string>& upstream_ids,
                     std::string& id) {
    auto parsed = value.id();
    if (!parsed) return;
    id = *parsed;
    if (upstream_ids.count(id) == 0) value.error("upstream \"" + id + "\" does not exist");
}

}  // namespace

// The largest `max`: each hedge is one more connection and one more bill for the same answer;
// past a few, a slow upstream is better served by its timeout and the retries.
constexpr int kMaxHedges = 3;

void readHedge(const Value& value, std::optional<HedgeConfig>& hedge) {
    HedgeConfig read;
    bool valid = true;
    ObjectReader reader;
    reader
        .on("after_ms",
            [&](const Value& v) {
                auto after = v.integer(1, std::numeric_limits<std::int32_t>::max());
                if (after) {
                    read.after = Milliseconds{*after};
                } else {
                    valid = false;
                }
            })
        .on("max", [&](const Value& v) {
            auto max = v.integer(1, kMaxHedges);
            if (max) {
                read.max = static_cast<int>(*max);
            } else {
                valid = false;
            }
        });
    if (!reader.read(value)) return;
    if (!reader.seen("after_ms")) {
        value.sink().error(memberPath(value.path(), "after_ms"), "required");
        valid = false;
    }
    if (valid) hedge = read;
}

// plugins.ai-proxy. Unknown keys are warnings, not errors: APISIX files carry provider, auth and
// model options that this gateway does not use (yet), and they should still load.
void readAiProxy(const Value& value, const std::set<std::string>& upstream_ids,
                 AiProxyConfig& ai_proxy, std::optional<bool>& expose_upstream_headers) {
    ObjectReader reader;
    reader
        .on("upstream_id",
            [&](const Value& v) { readUpstreamRef(v, upstream_ids, ai_proxy.upstream_id); })
        .on("upstream_fallback_id",
            [&](const Value& v) {
                // "" means no fallback, so "${FALLBACK:-}" can switch it off.
                if (v.json().is_string() && v.json().get<std::string>().empty()) return;
                readUpstreamRef(v, upstream_ids, ai_proxy.upstream_fallback_id);
            })
        .on("timeout",
            [&](const Value& v) {
                if (auto timeout = v.milliseconds()) ai_proxy.timeout = *timeout;
            })
        .on("deadline",
            [&](const Value& v) {
                if (auto deadline = v.milliseconds()) ai_proxy.deadline = *deadline;
            })
        .on("retry", [&](const Value& v) { readInt(v, 0, ai_proxy.retry); })
        .on("hold_preamble",
            [&](const Value& v) {
                if (auto hold = v.boolean()) ai_proxy.hold_preamble = *hold;
            })
        .on("preamble_max_bytes", [&](const Value& v) { readSize(v, ai_proxy.preamble_max_bytes); })
        .on("hedge", [&](const Value& v) { readHedge(v, ai_proxy.hedge); })
        .on("enable_upstream_host",
            [&](const Value& v) {
                if (auto enable = v.boolean()) ai_proxy.enable_upstream_host = *enable;
            })
        .on("retry_on",
            [&](const Value& v) {
                std::vector<int> statuses;
                bool is_list = v.forEachElement([&](const Value& element) {
                    auto status = element.integer(std::numeric_limits<std::int64_t>::min(),
                                                  std::numeric_limits<std::int64_t>::max());
                    if (!status) return;
                    if (*status < 100 || *status > 599) {
                        element.error("must be between 100 and 599");
                        return;
                    }
                    statuses.push_back(static_cast<int>(*status));
                });
                if (is_list) ai_proxy.retry_on = std::move(statuses);
            })
        .on("expose_upstream_headers",
            [&](const Value& v) { expose_upstream_headers = v.boolean(); });
    if (!reader.read(value, ObjectReader::Unknown::Warning)) return;
    if (!reader.seen("upstream_id")) {
        value.sink().error(memberPath(value.path(), "upstream_id"), "required");
    }
    if (!ai_proxy.upstream_fallback_id.empty()) {
        if (ai_proxy.upstream_fallback_id == ai_proxy.upstream_id) {
            value.sink().error(memberPath(value.path(), "upstream_fallback_id"),
                               "must differ from upstream_id");
        } else if (ai_proxy.retry == 0) {
            value.sink().warning(memberPath(value.path(), "retry"),
                                 "the fallback upstream is never used when retry is 0");
        }
    }
    if (ai_proxy.hedge && ai_proxy.retry == 0) {
        value.sink().warning(memberPath(value.path(), "hedge"),
                             "never sent when retry is 0: a hedge is an attempt");
    }
}

}  // namespace aiproxy::config::detail
