#pragma once
// The readers an upstream's keys are split among: the object itself with its nodes and provider
// defaults (upstream_schema.cpp), the exchange with a node (upstream_exchange_schema.cpp) and the
// health checks (health_check_schema.cpp). readUpstream and readInstance are in schema.hpp.

#include <initializer_list>
#include <string>
#include <string_view>

#include "aiproxy/config/config.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {

// Assigns the string when it is one of `allowed`; reports the list otherwise.
void readOneOf(const Value& value, std::initializer_list<std::string_view> allowed,
               std::string& out);

// upstream_exchange_schema.cpp
bool isToken(std::string_view name);  // a header or query parameter name: an HTTP token
void readTls(const Value& value, TlsConfig& tls);
void readTimeouts(const Value& value, UpstreamTimeouts& timeout);
void readKeepalivePool(const Value& value, KeepalivePool& pool);
// {name: string}; names_are_tokens for header and query parameter names. No line breaks.
void readStringMap(const Value& value, bool names_are_tokens, StringPairs& out);
void readAuth(const Value& value, UpstreamAuth& auth);
void readOptions(const Value& value, StringPairs& options);

// retry_budget: {enabled, ratio >= 0, min_per_second >= 0} (upstream_schema.cpp).
void readRetryBudget(const Value& value, RetryBudgetConfig& budget);

// health_check_schema.cpp
void readChecks(const Value& value, HealthChecksConfig& checks);

}  // namespace aiproxy::config::detail
