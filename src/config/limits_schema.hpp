#pragma once
// Readers of the traffic plugins (limit-count, limit-req, ai-rate-limiting) and of the route's
// max_concurrent key. APISIX field names and defaults; what this gateway cannot honour yet
// (redis policies, sliding windows, rules, per-instance budgets) is an error, not a silent
// difference.

#include "aiproxy/config/config.hpp"
#include "json_reader.hpp"

namespace aiproxy::config::detail {

void readLimitCount(const Value& value, LimitCountConfig& limit);
void readLimitReq(const Value& value, LimitReqConfig& limit);
void readAiRateLimiting(const Value& value, AiRateLimitingConfig& limit);
void readMaxConcurrent(const Value& value, MaxConcurrentConfig& limit);

// Warns about limits keyed by consumer_name on a route without key-auth: every request falls
// back to remote_addr there.
void checkLimitKeys(const Value& route_value, const RouteConfig& route);

}  // namespace aiproxy::config::detail
