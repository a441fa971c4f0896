#pragma once
// Readers of the traffic plugins (limit-count, limit-req, ai-rate-limiting) and of the route's
// max_concurrent key. APISIX field names and defaults; what this gateway cannot honour yet
// (redis-cluster and -sentinel policies, TLS to Redis, sliding windows, rules, per-instance
// budgets) is an error, not a silent difference.

#include "aiproxy/config/config.hpp"
#include "json_reader.hpp"

namespace aiproxy::config::detail {

// Where a plugin is configured. In a consumer group a key that is not named is the group's
// (key_type constant: every member counts in one budget), and limit-count's `group` (APISIX:
// share the counter across routes) is accepted, since a group's counters are shared anyway.
enum class LimitScope { Route, ConsumerGroup };

void readLimitCount(const Value& value, LimitCountConfig& limit,
                    LimitScope scope = LimitScope::Route);
void readLimitReq(const Value& value, LimitReqConfig& limit, LimitScope scope = LimitScope::Route);
void readAiRateLimiting(const Value& value, AiRateLimitingConfig& limit);
void readMaxConcurrent(const Value& value, MaxConcurrentConfig& limit);

// Warns about limits keyed by consumer_name on a route without key-auth: every request falls
// back to remote_addr there.
void checkLimitKeys(const Value& route_value, const RouteConfig& route);

}  // namespace aiproxy::config::detail
