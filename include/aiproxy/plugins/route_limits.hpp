#pragma once
// RouteLimits: one route's traffic plugins (limit-count, limit-req, ai-rate-limiting) and its
// max_concurrent, compiled once per snapshot over their counter stores (the process-wide
// LimitStore, or a Redis shared by every node: policy redis); or a consumer group's traffic
// plugins, which count under the group's id whatever the route. The decisions are pure given the
// stores' answers: an AdmissionRun names each counter operation in turn and reads its answer,
// so the worker only performs the operations (at once locally, over the network for Redis),
// waits (delay, queue) and answers; tests drive it on a fake clock.
//
// Order: ai-rate-limiting's reservation first, then limit-count, then limit-req (its delay is
// the last thing before the request goes on), then max_concurrent (queueing a request that a
// limit would reject is pointless). A plugin that rejects stops the chain; what earlier plugins
// counted stays counted, as in APISIX.
//
// Budgets reserve, then settle: admission reserves the request's estimate (reserve_tokens, or
// max_tokens plus a prompt estimate; its cost for a budget in USD) and is refused when it does
// not fit, so concurrent requests cannot all pass a check made before any of them is charged;
// the end of the answer replaces the reservation with the actual usage.

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
#include "aiproxy/plugins/counter_store.hpp"
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

// What admission knows of a request before it runs, for ai-rate-limiting's reservation.
struct RequestEstimate {
    std::uint64_t prompt_tokens = 0;          // from the text of its messages (bytes / 4)
    std::optional<std::uint64_t> max_tokens;  // max_tokens, max_completion_tokens, ...
    std::optional<config::ModelPrice> price;  // the requested model's, for a budget in USD
};

// Tokens in `bytes` of text, as the reservation and a cut stream's charge estimate them.
std::uint64_t tokensOfText(std::uint64_t bytes);

// What ai-rate-limiting reserves for a request (tokens, or USD for cost).
double reservationOf(const config::AiRateLimitingConfig& budget, const RequestEstimate& estimate);

struct Admission {
    std::optional<Rejection> rejection;
    Millis delay{0};              // limit-req: wait this long, then go on
    config::StringPairs headers;  // X-RateLimit-* / X-AI-RateLimit-* for the response
    // ai-rate-limiting: what was reserved, where (key, the window's start, the store that took
    // it: Redis, or null for the local store), for settlement().
    std::string budget_key;
    double reserved = 0;
    Millis window_start{0};
    std::shared_ptr<CounterStore> budget_store;
    RequestEstimate estimate;
};

// What the response used, for ai-rate-limiting.
struct Usage {
    std::optional<std::uint64_t> prompt_tokens;
    std::optional<std::uint64_t> completion_tokens;
    std::optional<double> cost_usd;
    bool stream = false;                   // an event stream (complete or not)
    std::uint64_t relayed_text_bytes = 0;  // a stream's generated text relayed
    bool succeeded = true;                 // the client got a 2xx answer from an upstream
};

// What a request is charged when it ends (reserved: what admission reserved): the usage the
// strategy counts when the answer said it; for a stream that ended without it, the prompt
// estimate plus the text relayed (tokensOfText); for an answer that succeeded without usage,
// the reservation stands; for one that failed, nothing.
double chargeOf(const config::AiRateLimitingConfig& budget, const Admission& admission,
                const Usage& usage);

class RouteLimits;

// One admission, step by step: next() names a counter operation and the store to run it on,
// record() takes the store's answer; once next() is null, result() holds the verdict. A store
// that cannot answer refuses the request with 503 (limit_store_unavailable), or with
// allow_degradation reruns the operation on the local store.
class AdmissionRun {
public:
    const CounterOp* next() const { return step_ == Step::Done ? nullptr : &op_; }
    CounterStore& store() const { return *store_; }
    // The store is this process's LimitStore: it answers at once (LimitStore::applyNow).
    bool local() const;
    void record(const CounterAnswer& answer);
    Admission& result() { return admission_; }

private:
    friend class RouteLimits;
    enum class Step { Budget, Count, Req, Done };
    AdmissionRun(const RouteLimits& limits, const RequestKeys& keys, RequestEstimate estimate,
                 Millis now);
    void prepare();  // op_ and store_ for step_, skipping plugins that are not set
    void finishStep(const CounterAnswer& answer);
    void refuseUnavailable(LimitPlugin plugin);

    const RouteLimits* limits_;
    RequestKeys keys_;
    Millis now_;
    Step step_ = Step::Budget;
    CounterOp op_;
    CounterStore* store_ = nullptr;
    std::shared_ptr<CounterStore> owner_;  // store_'s owner, kept for the budget's settle
    bool degraded_ = false;                // op_ now runs on the local store
    Admission admission_;
};

// The store of a plugin with policy redis (one per Redis target, shared by the snapshot's
// plugins). Null: the plugin counts locally.
using StoreResolver =
    std::function<std::shared_ptr<CounterStore>(const config::RedisPolicyConfig& redis)>;

class RouteLimits {
public:
    RouteLimits() = default;
    // local outlives this object (the snapshot holds it). redis: the stores of plugins with
    // policy redis (unset: every plugin counts in `local`).
    RouteLimits(const config::RouteConfig& route, LimitStore& local,
                const StoreResolver& redis = nullptr);
    // A consumer group's plugins (no max_concurrent): their counters are keyed by the group, so
    // its members share them on every route.
    RouteLimits(const config::ConsumerGroupConfig& group, LimitStore& local,
                const StoreResolver& redis = nullptr);

    // True when no traffic plugin and no max_concurrent is set: the worker skips everything.
    bool empty() const;
    // A budget plugin is set: the stage estimates the request for it.
    bool hasBudget() const { return ai_rate_limiting_.has_value(); }
    AdmissionRun start(const RequestKeys& keys, const RequestEstimate& estimate, Millis now) const;
    // The whole run with every operation answered by the local store (unit tests).
    Admission admit(const RequestKeys& keys, Millis now,
                    const RequestEstimate& estimate = {}) const;
    // After the response: the operation that replaces the reservation with the charge
    // (chargeOf), to run on admission.budget_store; nullopt when there is nothing to change.
    std::optional<CounterOp> settlement(const Admission& admission, const Usage& usage,
                                        Millis now) const;
    // settlement() run on the local store (unit tests).
    void settle(const Admission& admission, const Usage& usage, Millis now) const;

    // max_concurrent; the gate is null when unset.
    const std::optional<config::MaxConcurrentConfig>& maxConcurrent() const {
        return max_concurrent_;
    }
    const std::shared_ptr<ConcurrencyGate>& gate() const { return gate_; }

    // aiproxy_rate_limited_total{route,plugin} (a group's: {consumer_group,plugin}), by
    // LimitPlugin; null = not recorded.
    std::array<metrics::CounterCell*, kLimitPlugins> rejected{};

private:
    friend class AdmissionRun;
    // scope: the first part of every key; where: the scope in messages ("on route chat").
    void compile(const std::string& scope, const StoreResolver& redis);

    std::string where_;
    LimitStore* local_ = nullptr;
    // Per plugin: its shared store and whether it failing admits locally (null: local_).
    struct PluginStore {
        std::shared_ptr<CounterStore> store;
        bool allow_degradation = false;
    };
    PluginStore count_store_;
    PluginStore req_store_;
    PluginStore budget_store_;
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
