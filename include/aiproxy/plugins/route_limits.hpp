#pragma once
// RouteLimits: one route's traffic plugins (limit-count, limit-req, ai-rate-limiting) and its
// max_concurrent, compiled once per snapshot over the process-wide LimitStore; or a consumer
// group's traffic plugins, which count under the group's id whatever the route. The decisions
// are pure given the store and the time, so they are tested on a fake clock; the worker only
// waits (delay, queue) and answers.
//
// Order: ai-rate-limiting's dry run first (it costs nothing), then limit-count, then limit-req
// (its delay is the last thing before the request goes on), then max_concurrent (queueing a
// request that a limit would reject is pointless). A plugin that rejects stops the chain;
// what earlier plugins counted stays counted, as in APISIX.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/common/metric_cells.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/plugins/limit_store.hpp"

namespace aiproxy::plugins {

enum class LimitPlugin { LimitReq, LimitCount, AiRateLimiting, MaxConcurrent };
inline constexpr std::size_t kLimitPlugins = 4;
std::string_view limitPluginName(LimitPlugin plugin);

// What a limit key may be made of.
struct RequestKeys {
    std::string_view remote_addr;
    std::string_view consumer;  // key-auth's, "" when none
    std::function<std::optional<std::string_view>(std::string_view)> header;
};

// A limit's refusal, for an OpenAI-style error (code rate_limit_exceeded).
struct Rejection {
    LimitPlugin plugin = LimitPlugin::LimitCount;
    int status = 503;
    std::string message;
    std::string type;  // OpenAI's error type: "requests" or "tokens"
    std::string code = "rate_limit_exceeded";
    config::StringPairs headers;  // quota headers so far, then Retry-After
};

struct Admission {
    std::optional<Rejection> rejection;
    Millis delay{0};              // limit-req: wait this long, then go on
    config::StringPairs headers;  // X-RateLimit-* / X-AI-RateLimit-* for the response
    std::string budget_key;       // ai-rate-limiting: where deduct() books the usage
};

// What the response used, for ai-rate-limiting.
struct Usage {
    std::optional<std::uint64_t> prompt_tokens;
    std::optional<std::uint64_t> completion_tokens;
    std::optional<double> cost_usd;
};

class RouteLimits {
public:
    RouteLimits() = default;
    // store outlives this object (the snapshot holds it).
    RouteLimits(const config::RouteConfig& route, LimitStore& store);
    // A consumer group's plugins (no max_concurrent): their counters are keyed by the group, so
    // its members share them on every route.
    RouteLimits(const config::ConsumerGroupConfig& group, LimitStore& store);

    // True when no traffic plugin and no max_concurrent is set: the worker skips everything.
    bool empty() const;
    Admission admit(const RequestKeys& keys, Millis now) const;
    // After the response: books the usage the strategy counts (ai-rate-limiting only). A request
    // may overshoot the budget; the next ones are then refused until the window ends.
    void deduct(const Admission& admission, const Usage& usage, Millis now) const;

    // max_concurrent; the gate is null when unset.
    const std::optional<config::MaxConcurrentConfig>& maxConcurrent() const {
        return max_concurrent_;
    }
    const std::shared_ptr<ConcurrencyGate>& gate() const { return gate_; }

    // aiproxy_rate_limited_total{route,plugin} (a group's: {consumer_group,plugin}), by
    // LimitPlugin; null = not recorded.
    std::array<metrics::CounterCell*, kLimitPlugins> rejected{};

private:
    // scope: the first part of every key; where: the scope in messages ("on route chat").
    void compile(const std::string& scope);

    std::string where_;
    LimitStore* store_ = nullptr;
    std::optional<config::LimitCountConfig> limit_count_;
    std::optional<config::LimitReqConfig> limit_req_;
    std::optional<config::AiRateLimitingConfig> ai_rate_limiting_;
    std::optional<config::MaxConcurrentConfig> max_concurrent_;
    // Key prefixes: scope, plugin and what makes a count comparable (window, key, strategy).
    // Limits themselves are left out, so raising a limit keeps what was used.
    std::string count_prefix_;
    std::string req_prefix_;
    std::string budget_prefix_;
    std::shared_ptr<ConcurrencyGate> gate_;
};

// Wall-clock milliseconds since the epoch: what the data path passes as `now`.
Millis wallClock();

}  // namespace aiproxy::plugins
