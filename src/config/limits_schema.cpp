// routes[].plugins.{limit-count, limit-req, ai-rate-limiting} and routes[].max_concurrent.

#include "limits_schema.hpp"

#include <cmath>
#include <limits>

#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

constexpr std::int64_t kMaxCount = 9'007'199'254'740'991;  // 2^53 - 1, as APISIX

// A number > 0 (or >= 0 when zero_ok), finite.
std::optional<double> readNumber(const Value& value, bool zero_ok) {
    const Json& json = value.json();
    if (!json.is_number()) {
        value.error("must be a number");
        return std::nullopt;
    }
    double number = json.get<double>();
    if (!std::isfinite(number) || number < 0 || (!zero_ok && number == 0)) {
        value.error(zero_ok ? "must be >= 0" : "must be > 0");
        return std::nullopt;
    }
    return number;
}

void readRejectedCode(const Value& value, int& code) {
    if (auto parsed = value.integer(200, 599)) code = static_cast<int>(*parsed);
}

void readRejectedMsg(const Value& value, std::string& message) {
    auto text = value.string();
    if (!text) return;
    if (text->empty()) {
        value.error("must not be empty");
        return;
    }
    message = *text;
}

void readKeyType(const Value& value, LimitKey& key) {
    auto type = value.string();
    if (!type) return;
    if (*type == "var" || *type == "constant") {
        key.type = *type;
    } else if (*type == "var_combination") {
        value.error("var_combination is not supported; use var or constant");
    } else {
        value.error("must be var or constant");
    }
}

void readKeyName(const Value& value, std::string& name) {
    if (auto text = value.string()) name = *text;
}

// Checked once both key_type and key are read, whatever their order in the file.
void checkKey(const Value& plugin, const LimitKey& key) {
    if (key.type != "var") return;
    bool header = key.var.starts_with("http_") && key.var.size() > 5;
    if (key.var == "remote_addr" || key.var == "consumer_name" || header) return;
    plugin.sink().error(memberPath(plugin.path(), "key"),
                        "must be remote_addr, consumer_name or http_<header> (key_type var)");
}

// policy and the redis_* fields, as read; applied by finishPolicy once the whole object is
// read, whatever the order of its fields.
struct PolicyFields {
    std::string policy = "local";
    RedisPolicyConfig redis;
    bool ssl = false;
};

void readPolicy(const Value& value, PolicyFields& fields) {
    auto policy = value.string();
    if (!policy) return;
    if (*policy == "local" || *policy == "redis") {
        fields.policy = *policy;
    } else if (*policy == "redis-cluster" || *policy == "redis-sentinel") {
        value.error(*policy + " is not supported; use redis (one server or a proxy in front)");
    } else {
        value.error("must be local or redis");
    }
}

void readRedisFields(ObjectReader& reader, PolicyFields& fields, LimitPolicyConfig& policy) {
    reader.on("policy", [&fields](const Value& v) { readPolicy(v, fields); })
        .on("redis_host",
            [&fields](const Value& v) {
                auto host = v.string();
                if (!host) return;
                if (host->empty()) {
                    v.error("must not be empty");
                    return;
                }
                fields.redis.host = *host;
            })
        .on("redis_port",
            [&fields](const Value& v) {
                if (auto port = v.integer(1, 65535)) fields.redis.port = static_cast<int>(*port);
            })
        .on("redis_username",
            [&fields](const Value& v) {
                if (auto name = v.string()) fields.redis.username = *name;
            })
        .on("redis_password",
            [&fields](const Value& v) {
                if (auto password = v.string()) fields.redis.password = *password;
            })
        .on("redis_database",
            [&fields](const Value& v) {
                if (auto db = v.integer(0, 1'000'000))
                    fields.redis.database = static_cast<int>(*db);
            })
        .on("redis_timeout",
            [&fields](const Value& v) {
                if (auto ms = v.integer(1, 3'600'000)) fields.redis.timeout = Milliseconds{*ms};
            })
        .on("redis_ssl",
            [&fields](const Value& v) {
                if (auto ssl = v.boolean()) fields.ssl = *ssl;
            })
        .on("allow_degradation",
            [&policy](const Value& v) {
                if (auto allow = v.boolean()) policy.allow_degradation = *allow;
            })
        // APISIX pool settings: one pipelined connection per worker makes them moot.
        .ignore("redis_keepalive_timeout")
        .ignore("redis_keepalive_pool")
        .ignore("redis_ssl_verify");
}

void finishPolicy(const Value& plugin, const ObjectReader& reader, PolicyFields& fields,
                  LimitPolicyConfig& policy) {
    if (fields.policy != "redis") return;
    if (!reader.seen("redis_host")) {
        plugin.sink().error(memberPath(plugin.path(), "redis_host"), "required with policy redis");
        return;
    }
    if (fields.ssl) {
        plugin.sink().error(memberPath(plugin.path(), "redis_ssl"),
                            "TLS to Redis is not supported yet; reach Redis over a trusted "
                            "network or a local TLS tunnel (stunnel) and set redis_ssl: false");
        return;
    }
    policy.redis = std::move(fields.redis);
}

void readWindowType(const Value& value) {
    auto type = value.string();
    if (type && *type != "fixed") value.error("only \"fixed\" windows are supported");
}

void requireKeys(const Value& value, const ObjectReader& reader,
                 std::initializer_list<std::string_view> keys) {
    for (auto key : keys) {
        if (!reader.seen(key)) value.sink().error(memberPath(value.path(), key), "required");
    }
}

// The fields every limit plugin has: its key, how it refuses, and the counter store.
void readSharedFields(ObjectReader& reader, LimitKey& key, int& rejected_code,
                      std::string& rejected_msg, PolicyFields& fields, LimitPolicyConfig& policy) {
    readRedisFields(reader, fields, policy);
    reader.on("key_type", [&key](const Value& v) { readKeyType(v, key); })
        .on("key", [&key](const Value& v) { readKeyName(v, key.var); })
        .on("rejected_code",
            [&rejected_code](const Value& v) { readRejectedCode(v, rejected_code); })
        .on("rejected_msg", [&rejected_msg](const Value& v) { readRejectedMsg(v, rejected_msg); })
        .ignore("_meta");
}

void notSupported(ObjectReader& reader, std::string key, std::string message) {
    reader.on(key, [message](const Value& v) { v.error(message); });
}

// A consumer group's plugin without key_type: the group's budget unless a key is named.
void groupDefaultKey(const ObjectReader& reader, LimitScope scope, LimitKey& key) {
    if (scope != LimitScope::ConsumerGroup || reader.seen("key_type")) return;
    key.type = reader.seen("key") ? "var" : "constant";
    if (key.type == "constant") key.var.clear();
}

}  // namespace

void readLimitCount(const Value& value, LimitCountConfig& limit, LimitScope scope) {
    ObjectReader reader;
    reader
        .on("count",
            [&](const Value& v) {
                if (auto count = v.integer(1, kMaxCount)) limit.count = *count;
            })
        .on("time_window",
            [&](const Value& v) {
                if (auto window = v.integer(1, kMaxCount / 1000)) limit.time_window = *window;
            })
        .on("show_limit_quota_header",
            [&](const Value& v) {
                if (auto show = v.boolean()) limit.show_limit_quota_header = *show;
            })
        .on("window_type", readWindowType);
    PolicyFields policy;
    readSharedFields(reader, limit.key, limit.rejected_code, limit.rejected_msg, policy,
                     limit.policy);
    notSupported(reader, "rules", "rules are not supported; use one count and time_window");
    if (scope == LimitScope::ConsumerGroup) {
        reader.ignore("group");
    } else {
        notSupported(reader, "group", "group is not supported; counters are per route");
    }
    if (!reader.read(value)) return;
    groupDefaultKey(reader, scope, limit.key);
    requireKeys(value, reader, {"count", "time_window"});
    finishPolicy(value, reader, policy, limit.policy);
    checkKey(value, limit.key);
}

void readLimitReq(const Value& value, LimitReqConfig& limit, LimitScope scope) {
    ObjectReader reader;
    reader
        .on("rate",
            [&](const Value& v) {
                if (auto rate = readNumber(v, false)) limit.rate = *rate;
            })
        .on("burst",
            [&](const Value& v) {
                if (auto burst = readNumber(v, true)) limit.burst = *burst;
            })
        .on("nodelay", [&](const Value& v) {
            if (auto nodelay = v.boolean()) limit.nodelay = *nodelay;
        });
    PolicyFields policy;
    readSharedFields(reader, limit.key, limit.rejected_code, limit.rejected_msg, policy,
                     limit.policy);
    if (!reader.read(value)) return;
    groupDefaultKey(reader, scope, limit.key);
    requireKeys(value, reader, {"rate"});
    finishPolicy(value, reader, policy, limit.policy);
    checkKey(value, limit.key);
}

void readAiRateLimiting(const Value& value, AiRateLimitingConfig& limit) {
    std::optional<Value> limit_value;
    ObjectReader reader;
    reader
        .on("limit",
            [&](const Value& v) {
                if (auto number = readNumber(v, false)) {
                    limit.limit = *number;
                    limit_value = v;
                }
            })
        .on("time_window",
            [&](const Value& v) {
                if (auto window = v.integer(1, kMaxCount / 1000)) limit.time_window = *window;
            })
        .on("limit_strategy",
            [&](const Value& v) {
                auto strategy = v.string();
                if (!strategy) return;
                if (*strategy != "total_tokens" && *strategy != "prompt_tokens" &&
                    *strategy != "completion_tokens" && *strategy != "cost") {
                    v.error("must be total_tokens, prompt_tokens, completion_tokens or cost");
                    return;
                }
                limit.limit_strategy = *strategy;
            })
        .on("show_limit_quota_header",
            [&](const Value& v) {
                if (auto show = v.boolean()) limit.show_limit_quota_header = *show;
            })
        .on("reserve_tokens", [&](const Value& v) {
            if (auto tokens = v.integer(0, kMaxCount)) limit.reserve_tokens = *tokens;
        });
    PolicyFields policy;
    readSharedFields(reader, limit.key, limit.rejected_code, limit.rejected_msg, policy,
                     limit.policy);
    notSupported(reader, "instances",
                 "per-instance budgets are not supported; one budget per route (or key)");
    notSupported(reader, "rules", "rules are not supported; use one limit and time_window");
    notSupported(reader, "cost_expr", "cost_expr is not supported; use limit_strategy cost");
    if (!reader.read(value)) return;
    // The budget is the route's unless a key is named: `key: consumer_name` alone means per
    // consumer.
    if (reader.seen("key") && !reader.seen("key_type")) limit.key.type = "var";
    requireKeys(value, reader, {"limit", "time_window"});
    finishPolicy(value, reader, policy, limit.policy);
    // Tokens are counted whole; a budget in USD may have cents.
    if (limit_value && limit.limit_strategy != "cost" && std::trunc(limit.limit) != limit.limit) {
        limit_value->error("must be a whole number of tokens");
    }
    checkKey(value, limit.key);
}

void readMaxConcurrent(const Value& value, MaxConcurrentConfig& limit) {
    ObjectReader reader;
    reader.on("limit", [&](const Value& v) { readInt(v, 1, limit.limit); })
        .on("queue", [&](const Value& v) { readInt(v, 0, limit.queue); })
        .on("queue_timeout", [&](const Value& v) { readSeconds(v, limit.queue_timeout); });
    if (!reader.read(value)) return;
    requireKeys(value, reader, {"limit"});
}

void checkLimitKeys(const Value& route_value, const RouteConfig& route) {
    if (route.key_auth) return;
    auto check = [&](std::string_view plugin, const LimitKey& key) {
        if (key.type == "var" && key.var == "consumer_name") {
            route_value.sink().warning(
                memberPath(memberPath(memberPath(route_value.path(), "plugins"), plugin), "key"),
                "consumer_name without key-auth on the route: requests are counted by "
                "remote_addr");
        }
    };
    if (route.limit_count) check("limit-count", route.limit_count->key);
    if (route.limit_req) check("limit-req", route.limit_req->key);
    if (route.ai_rate_limiting) check("ai-rate-limiting", route.ai_rate_limiting->key);
}

}  // namespace aiproxy::config::detail
