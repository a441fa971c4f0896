#include "aiproxy/plugins/route_limits.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "aiproxy/common/digest.hpp"

namespace aiproxy::plugins {
namespace {

// Header values longer than this are keyed by their digest, so a client cannot make keys (and
// the store's memory) as large as its headers.
constexpr std::size_t kMaxKeyValue = 128;

std::string keyPart(const config::LimitKey& key) {
    return key.type + ":" + key.var;
}

// The client part of a counter's key.
std::string clientKey(const config::LimitKey& key, const RequestKeys& request) {
    if (key.type == "constant") return "=" + key.var;
    std::string_view value;
    std::string_view kind = "ip";
    if (key.var == "consumer_name") {
        value = request.consumer;
        kind = "consumer";
    } else if (key.var.starts_with("http_") && request.header) {
        // http_x_user_id names the header X-User-Id (nginx variable spelling).
        std::string name = key.var.substr(5);
        std::replace(name.begin(), name.end(), '_', '-');
        if (auto header = request.header(name)) value = *header;
        kind = "header";
    }
    if (value.empty()) {  // APISIX: a key that is missing falls back to the client address
        value = request.remote_addr;
        kind = "ip";
    }
    std::string out{kind};
    out += '=';
    if (value.size() > kMaxKeyValue) {
        out += common::sha256Hex(value);
    } else {
        out += value;
    }
    return out;
}

// Whole numbers print without a fraction; USD budgets with up to 6 decimals.
std::string amountText(double amount) {
    if (amount == std::floor(amount) && std::abs(amount) < 1e15) {
        return std::to_string(static_cast<std::int64_t>(amount));
    }
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%.6f", amount);
    std::string text = buffer;
    while (text.back() == '0')
        text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
}

// Seconds until a reset, rounded up and at least 1 (a client told 0 would retry at once).
std::string secondsText(Millis millis) {
    return std::to_string(std::max<std::int64_t>(1, (millis.count() + 999) / 1000));
}

void addQuotaHeaders(config::StringPairs& headers, std::string_view prefix, double limit,
                     double remaining, Millis reset) {
    std::string name{prefix};
    headers.emplace_back(name + "-Limit", amountText(limit));
    headers.emplace_back(name + "-Remaining", amountText(std::max(remaining, 0.0)));
    headers.emplace_back(name + "-Reset", secondsText(reset));
}

Rejection reject(LimitPlugin plugin, int status, std::string message, std::string type,
                 const config::StringPairs& headers, Millis retry_after) {
    Rejection out{.plugin = plugin,
                  .status = status,
                  .message = std::move(message),
                  .type = std::move(type),
                  .headers = headers};
    out.headers.emplace_back("Retry-After", secondsText(retry_after));
    return out;
}

double usedAmount(const std::string& strategy, const Usage& usage) {
    double prompt = static_cast<double>(usage.prompt_tokens.value_or(0));
    double completion = static_cast<double>(usage.completion_tokens.value_or(0));
    if (strategy == "prompt_tokens") return prompt;
    if (strategy == "completion_tokens") return completion;
    if (strategy == "cost") return usage.cost_usd.value_or(0);
    return prompt + completion;
}

// prompt and completion tokens as the strategy counts them (USD at `price` for cost).
double amountOf(const std::string& strategy, double prompt, double completion,
                const std::optional<config::ModelPrice>& price) {
    if (strategy == "prompt_tokens") return prompt;
    if (strategy == "completion_tokens") return completion;
    if (strategy == "cost") {
        if (!price) return 0;
        return (prompt * price->input_per_mtok + completion * price->output_per_mtok) / 1e6;
    }
    return prompt + completion;
}

bool usageKnown(const std::string& strategy, const Usage& usage) {
    if (strategy == "cost") return usage.cost_usd.has_value();
    if (strategy == "prompt_tokens") return usage.prompt_tokens.has_value();
    if (strategy == "completion_tokens") return usage.completion_tokens.has_value();
    return usage.prompt_tokens || usage.completion_tokens;
}

}  // namespace

std::string_view limitPluginName(LimitPlugin plugin) {
    switch (plugin) {
        case LimitPlugin::LimitReq:
            return "limit-req";
        case LimitPlugin::LimitCount:
            return "limit-count";
        case LimitPlugin::AiRateLimiting:
            return "ai-rate-limiting";
        case LimitPlugin::MaxConcurrent:
            return "max_concurrent";
    }
    return "";
}

std::uint64_t tokensOfText(std::uint64_t bytes) {
    return (bytes + 3) / 4;  // about 4 bytes a token in English text, rounded up
}

double reservationOf(const config::AiRateLimitingConfig& budget, const RequestEstimate& estimate) {
    if (budget.reserve_tokens) {
        // A fixed reservation; in USD at the dearer of the two prices, so it is not too small.
        auto tokens = static_cast<double>(*budget.reserve_tokens);
        if (budget.limit_strategy != "cost") return tokens;
        if (!estimate.price) return 0;
        return tokens * std::max(estimate.price->input_per_mtok, estimate.price->output_per_mtok) /
               1e6;
    }
    return amountOf(budget.limit_strategy, static_cast<double>(estimate.prompt_tokens),
                    static_cast<double>(estimate.max_tokens.value_or(0)), estimate.price);
}

double chargeOf(const config::AiRateLimitingConfig& budget, const Admission& admission,
                const Usage& usage) {
    const auto& strategy = budget.limit_strategy;
    bool cut = usage.stream && !usage.completion_tokens;
    if (!cut && usageKnown(strategy, usage)) return usedAmount(strategy, usage);
    if (cut) {
        // What the model was sent and what it wrote until the stream ended.
        auto prompt =
            static_cast<double>(usage.prompt_tokens.value_or(admission.estimate.prompt_tokens));
        auto completion = static_cast<double>(tokensOfText(usage.relayed_text_bytes));
        return amountOf(strategy, prompt, completion, admission.estimate.price);
    }
    return usage.succeeded ? admission.reserved : 0;
}

Millis wallClock() {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch());
}

RouteLimits::RouteLimits(const config::RouteConfig& route, LimitStore& local,
                         const StoreResolver& redis)
    : where_("on route " + route.id),
      local_(&local),
      limit_count_(route.limit_count),
      limit_req_(route.limit_req),
      ai_rate_limiting_(route.ai_rate_limiting),
      max_concurrent_(route.max_concurrent) {
    compile(route.id, redis);
    if (max_concurrent_) gate_ = local.gate(route.id);
}

RouteLimits::RouteLimits(const config::ConsumerGroupConfig& group, LimitStore& local,
                         const StoreResolver& redis)
    : where_("for consumer group " + group.id),
      local_(&local),
      limit_count_(group.limit_count),
      limit_req_(group.limit_req),
      ai_rate_limiting_(group.ai_rate_limiting) {
    // A leading '\n' keeps a group's keys apart from those of a route with the same id.
    compile("\ngroup\n" + group.id, redis);
}

void RouteLimits::compile(const std::string& scope, const StoreResolver& redis) {
    auto storeOf = [&](const config::LimitPolicyConfig& policy) {
        PluginStore out{.allow_degradation = policy.allow_degradation};
        if (policy.redis && redis) out.store = redis(*policy.redis);
        return out;
    };
    // Parts end in '\n', which ids and plugin names do not normally contain.
    std::string base = scope + "\n";
    if (limit_count_) {
        count_prefix_ = base + "limit-count\n" + std::to_string(limit_count_->time_window) + "\n" +
                        keyPart(limit_count_->key) + "\n";
        count_store_ = storeOf(limit_count_->policy);
    }
    if (limit_req_) {
        req_prefix_ = base + "limit-req\n" + keyPart(limit_req_->key) + "\n";
        req_store_ = storeOf(limit_req_->policy);
    }
    if (ai_rate_limiting_) {
        budget_prefix_ =
            base + "ai-rate-limiting\n" + std::to_string(ai_rate_limiting_->time_window) + "\n" +
            ai_rate_limiting_->limit_strategy + "\n" + keyPart(ai_rate_limiting_->key) + "\n";
        budget_store_ = storeOf(ai_rate_limiting_->policy);
    }
}

bool RouteLimits::empty() const {
    return !limit_count_ && !limit_req_ && !ai_rate_limiting_ && !max_concurrent_;
}

AdmissionRun RouteLimits::start(const RequestKeys& keys, const RequestEstimate& estimate,
                                Millis now) const {
    return AdmissionRun{*this, keys, estimate, now};
}

Admission RouteLimits::admit(const RequestKeys& keys, Millis now,
                             const RequestEstimate& estimate) const {
    AdmissionRun run = start(keys, estimate, now);
    while (const CounterOp* op = run.next())
        run.record(local_->applyNow(*op));
    return std::move(run.result());
}

std::optional<CounterOp> RouteLimits::settlement(const Admission& admission, const Usage& usage,
                                                 Millis now) const {
    if (!ai_rate_limiting_ || admission.budget_key.empty()) return std::nullopt;
    double delta = chargeOf(*ai_rate_limiting_, admission, usage) - admission.reserved;
    if (delta == 0) return std::nullopt;
    return CounterOp{.kind = CounterOp::Kind::Settle,
                     .key = admission.budget_key,
                     .window = Millis{ai_rate_limiting_->time_window * 1000},
                     .amount = delta,
                     .start = admission.window_start,
                     .now = now};
}

void RouteLimits::settle(const Admission& admission, const Usage& usage, Millis now) const {
    if (auto op = settlement(admission, usage, now)) local_->applyNow(*op);
}

AdmissionRun::AdmissionRun(const RouteLimits& limits, const RequestKeys& keys,
                           RequestEstimate estimate, Millis now)
    : limits_(&limits), keys_(keys), now_(now) {
    admission_.estimate = std::move(estimate);
    prepare();
}

bool AdmissionRun::local() const {
    return store_ == limits_->local_;
}

void AdmissionRun::prepare() {
    const auto& limits = *limits_;
    degraded_ = false;
    auto use = [&](const RouteLimits::PluginStore& plugin) {
        owner_ = plugin.store;
        store_ = plugin.store ? plugin.store.get() : limits.local_;
    };
    for (;;) {
        switch (step_) {
            case Step::Budget:
                if (const auto& budget = limits.ai_rate_limiting_) {
                    admission_.budget_key = limits.budget_prefix_ + clientKey(budget->key, keys_);
                    admission_.reserved = reservationOf(*budget, admission_.estimate);
                    op_ = CounterOp{.kind = CounterOp::Kind::Reserve,
                                    .key = admission_.budget_key,
                                    .window = Millis{budget->time_window * 1000},
                                    .limit = budget->limit,
                                    .amount = admission_.reserved,
                                    .now = now_};
                    use(limits.budget_store_);
                    return;
                }
                step_ = Step::Count;
                break;
            case Step::Count:
                if (const auto& count = limits.limit_count_) {
                    op_ = CounterOp{.kind = CounterOp::Kind::Take,
                                    .key = limits.count_prefix_ + clientKey(count->key, keys_),
                                    .window = Millis{count->time_window * 1000},
                                    .limit = static_cast<double>(count->count),
                                    .amount = 1,
                                    .now = now_};
                    use(limits.count_store_);
                    return;
                }
                step_ = Step::Req;
                break;
            case Step::Req:
                if (const auto& req = limits.limit_req_) {
                    op_ = CounterOp{.kind = CounterOp::Kind::Leak,
                                    .key = limits.req_prefix_ + clientKey(req->key, keys_),
                                    .limit = req->rate,
                                    .amount = req->burst,
                                    .now = now_};
                    use(limits.req_store_);
                    return;
                }
                step_ = Step::Done;
                break;
            case Step::Done:
                return;
        }
    }
}

// The store's error is logged by its connection; a client is not told where Redis lives.
void AdmissionRun::refuseUnavailable(LimitPlugin plugin) {
    Rejection out{.plugin = plugin,
                  .status = 503,
                  .message = std::string{limitPluginName(plugin)} + " " + limits_->where_ +
                             " cannot reach its shared counter store; retry shortly",
                  .type = "server_error",
                  .code = "limit_store_unavailable",
                  .headers = admission_.headers};
    out.headers.emplace_back("Retry-After", "1");
    admission_.rejection = std::move(out);
    step_ = Step::Done;
}

void AdmissionRun::record(const CounterAnswer& answer) {
    if (step_ == Step::Done) return;
    if (!answer.answered) {
        const auto& limits = *limits_;
        LimitPlugin plugin = step_ == Step::Budget  ? LimitPlugin::AiRateLimiting
                             : step_ == Step::Count ? LimitPlugin::LimitCount
                                                    : LimitPlugin::LimitReq;
        const auto& plugin_store = step_ == Step::Budget  ? limits.budget_store_
                                   : step_ == Step::Count ? limits.count_store_
                                                          : limits.req_store_;
        if (plugin_store.allow_degradation && !degraded_ && !local()) {
            // Admit and count in this process until the shared store answers again.
            degraded_ = true;
            owner_.reset();
            store_ = limits.local_;
            return;
        }
        refuseUnavailable(plugin);
        return;
    }
    finishStep(answer);
    if (step_ != Step::Done) prepare();
}

void AdmissionRun::finishStep(const CounterAnswer& answer) {
    const auto& limits = *limits_;
    const auto& where = limits.where_;
    auto& out = admission_;
    switch (step_) {
        case Step::Budget: {
            const auto& budget = *limits.ai_rate_limiting_;
            const WindowUse& use = answer.window;
            if (budget.show_limit_quota_header) {
                // The budget as it stood before this request's reservation.
                addQuotaHeaders(out.headers, "X-AI-RateLimit", budget.limit,
                                use.allowed ? budget.limit - (use.used - out.reserved) : 0,
                                use.reset);
            }
            if (!use.allowed) {
                bool cost = budget.limit_strategy == "cost";
                std::string message =
                    !budget.rejected_msg.empty()
                        ? budget.rejected_msg
                        : (cost ? "Cost budget of " + amountText(budget.limit) + " USD"
                                : "Token budget of " + amountText(budget.limit) + " " +
                                      budget.limit_strategy) +
                              " per " + std::to_string(budget.time_window) + " s used up " + where;
                out.rejection = reject(LimitPlugin::AiRateLimiting, budget.rejected_code,
                                       std::move(message), "tokens", out.headers, use.reset);
                out.budget_key.clear();  // nothing reserved, nothing to settle
                step_ = Step::Done;
                return;
            }
            out.window_start = use.start;
            out.budget_store = owner_;
            step_ = Step::Count;
            return;
        }
        case Step::Count: {
            const auto& count = *limits.limit_count_;
            const WindowUse& use = answer.window;
            if (count.show_limit_quota_header) {
                addQuotaHeaders(out.headers, "X-RateLimit", static_cast<double>(count.count),
                                static_cast<double>(count.count) - use.used, use.reset);
            }
            if (!use.allowed) {
                std::string message =
                    !count.rejected_msg.empty()
                        ? count.rejected_msg
                        : "Rate limit of " + std::to_string(count.count) + " requests per " +
                              std::to_string(count.time_window) + " s reached " + where;
                out.rejection = reject(LimitPlugin::LimitCount, count.rejected_code,
                                       std::move(message), "requests", out.headers, use.reset);
                step_ = Step::Done;
                return;
            }
            step_ = Step::Req;
            return;
        }
        case Step::Req: {
            const auto& req = *limits.limit_req_;
            const BucketUse& use = answer.bucket;
            if (!use.allowed) {
                std::string message = !req.rejected_msg.empty()
                                          ? req.rejected_msg
                                          : "Rate limit of " + amountText(req.rate) +
                                                " requests per second reached " + where;
                out.rejection = reject(LimitPlugin::LimitReq, req.rejected_code, std::move(message),
                                       "requests", out.headers, use.retry_after);
            } else if (!req.nodelay) {
                out.delay = use.delay;
            }
            step_ = Step::Done;
            return;
        }
        case Step::Done:
            return;
    }
}

}  // namespace aiproxy::plugins
