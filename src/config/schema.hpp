#pragma once
// The config schema: readers that fill the structs of config.hpp from a document tree and report
// every problem with its path. One reader per section; readConfig() ties them together.

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "aiproxy/config/config.hpp"
#include "json_reader.hpp"

namespace aiproxy::config::detail {

void readServer(const Value& value, ServerConfig& server);
void readStatus(const Value& value, StatusConfig& status);
void readLog(const Value& value, LogConfig& log);
void readAdmin(const Value& value, AdminConfig& admin);
void readStorage(const Value& value, StorageConfig& storage);
void readTracing(const Value& value, TracingConfig& tracing);
// pricing: {model: {...}}; an entry for a model already present replaces it.
void readPricing(const Value& value, std::vector<std::pair<std::string, ModelPrice>>& pricing);
void readUpstream(const Value& value, UpstreamConfig& upstream);
// consumers[]: username, labels, plugins.key-auth.{key | key_sha256}, group_id (one of
// group_ids).
void readConsumer(const Value& value, const std::set<std::string>& group_ids,
                  ConsumerConfig& consumer);
// consumer_groups[]: id, desc, labels, plugins.{limit-count, limit-req, ai-rate-limiting}.
void readConsumerGroup(const Value& value, ConsumerGroupConfig& group);
// One instance of ai-proxy-multi, as an upstream of one node (see AiProxyMultiConfig).
void readInstance(const Value& value, UpstreamConfig& instance);
// routes[].plugins.ai-proxy; upstream_ids as for readRoute. expose_upstream_headers is set when
// the plugin has the key, for readRoute to check against the route's own.
void readAiProxy(const Value& value, const std::set<std::string>& upstream_ids,
                 AiProxyConfig& ai_proxy, std::optional<bool>& expose_upstream_headers);
// routes[].plugins.ai-proxy-multi; expose_upstream_headers as ai-proxy's.
void readAiProxyMulti(const Value& value, AiProxyMultiConfig& multi,
                      std::optional<bool>& expose_upstream_headers);
// The prompt plugins of a route (prompt_plugins_schema.cpp).
void readAiPromptTemplate(const Value& value, AiPromptTemplateConfig& config);
void readAiPromptDecorator(const Value& value, AiPromptDecoratorConfig& config);
void readAiRequestRewrite(const Value& value, AiRequestRewriteConfig& config);
void readAiPromptGuard(const Value& value, AiPromptGuardConfig& config);
void readAiResponseRewrite(const Value& value, AiResponseRewriteConfig& config);
// routes[].vars: conditions that must all hold; each is kept only when it is valid.
void readVars(const Value& value, std::vector<VarCondition>& vars);
// upstream_ids: every id declared in the file, for the references of the ai-proxy plugin.
void readRoute(const Value& value, const std::set<std::string>& upstream_ids, RouteConfig& route);

// Shared by the section readers. The read* helpers assign only a valid value, so an invalid one
// leaves the default in place (the error is reported either way).
void readSeconds(const Value& value, Milliseconds& duration);
void readSize(const Value& value, std::size_t& size);  // an integer > 0
void readInt(const Value& value, int min, int& out);   // an integer in [min, INT_MAX]
// ai-proxy's and ai-proxy-multi's hedge: {after_ms, max}; set only when valid.
void readHedge(const Value& value, std::optional<HedgeConfig>& hedge);
// A non-empty list of IP addresses or CIDR ranges (IPv4 or IPv6); each bad entry is reported at
// its index.
void readAddressList(const Value& value, std::vector<std::string>& out);
bool isAllDigits(std::string_view text);
bool hasSpace(std::string_view text);  // any whitespace or control character
// labels: {name: value} with string values as APISIX allows them (appended to `labels`).
void readLabels(const Value& value, std::vector<std::pair<std::string, std::string>>& labels);
bool isHeaderName(std::string_view text);  // letters, digits, '-', '_' and '.'; not empty

// Returns the config only when no error was reported (by this call or before it).
std::optional<Config> readConfig(const Json& document, DiagnosticSink& sink);

}  // namespace aiproxy::config::detail
