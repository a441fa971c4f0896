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

Millis wallClock() {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch());
}

RouteLimits::RouteLimits(const config::RouteConfig& route, LimitStore& store)
    : where_("on route " + route.id),
      store_(&store),
      limit_count_(route.limit_count),
      limit_req_(route.limit_req),
      ai_rate_limiting_(route.ai_rate_limiting),
      max_concurrent_(route.max_concurrent) {
    compile(route.id);
    if (max_concurrent_) gate_ = store.gate(route.id);
}

RouteLimits::RouteLimits(const config::ConsumerGroupConfig& group, LimitStore& store)
    : where_("for consumer group " + group.id),
      store_(&store),
      limit_count_(group.limit_count),
      limit_req_(group.limit_req),
      ai_rate_limiting_(group.ai_rate_limiting) {
    // A leading '\n' keeps a group's keys apart from those of a route with the same id.
    compile("\ngroup\n" + group.id);
}

void RouteLimits::compile(const std::string& scope) {
    // Parts end in '\n', which ids and plugin names do not normally contain.
    std::string base = scope + "\n";
    if (limit_count_) {
        count_prefix_ = base + "limit-count\n" + std::to_string(limit_count_->time_window) + "\n" +
                        keyPart(limit_count_->key) + "\n";
    }
    if (limit_req_) req_prefix_ = base + "limit-req\n" + keyPart(limit_req_->key) + "\n";
    if (ai_rate_limiting_) {
        budget_prefix_ =
            base + "ai-rate-limiting\n" + std::to_string(ai_rate_limiting_->time_window) + "\n" +
            ai_rate_limiting_->limit_strategy + "\n" + keyPart(ai_rate_limiting_->key) + "\n";
    }
}

bool RouteLimits::empty() const {
    return !limit_count_ && !limit_req_ && !ai_rate_limiting_ && !max_concurrent_;
}

Admission RouteLimits::admit(const RequestKeys& keys, Millis now) const {
    Admission out;
    if (!store_) return out;
    if (const auto& budget = ai_rate_limiting_) {
        out.budget_key = budget_prefix_ + clientKey(budget->key, keys);
        Millis window{budget->time_window * 1000};
        auto use = store_->peek(out.budget_key, window, budget->limit, now);
        if (budget->show_limit_quota_header) {
            addQuotaHeaders(out.headers, "X-AI-RateLimit", budget->limit,
                            use.allowed ? budget->limit - use.used : 0, use.reset);
        }
        if (!use.allowed) {
            bool cost = budget->limit_strategy == "cost";
            std::string message =
                !budget->rejected_msg.empty()
                    ? budget->rejected_msg
                    : (cost ? "Cost budget of " + amountText(budget->limit) + " USD"
                            : "Token budget of " + amountText(budget->limit) + " " +
                                  budget->limit_strategy) +
                          " per " + std::to_string(budget->time_window) + " s used up " + where_;
            out.rejection = reject(LimitPlugin::AiRateLimiting, budget->rejected_code,
                                   std::move(message), "tokens", out.headers, use.reset);
            return out;
        }
    }
    if (const auto& count = limit_count_) {
        Millis window{count->time_window * 1000};
        auto use = store_->take(count_prefix_ + clientKey(count->key, keys), window,
                                static_cast<double>(count->count), 1, now);
        if (count->show_limit_quota_header) {
            addQuotaHeaders(out.headers, "X-RateLimit", static_cast<double>(count->count),
                            static_cast<double>(count->count) - use.used, use.reset);
        }
        if (!use.allowed) {
            std::string message = !count->rejected_msg.empty()
                                      ? count->rejected_msg
                                      : "Rate limit of " + std::to_string(count->count) +
                                            " requests per " + std::to_string(count->time_window) +
                                            " s reached " + where_;
            out.rejection = reject(LimitPlugin::LimitCount, count->rejected_code,
                                   std::move(message), "requests", out.headers, use.reset);
            return out;
        }
    }
    if (const auto& req = limit_req_) {
        auto use =
            store_->leak(req_prefix_ + clientKey(req->key, keys), req->rate, req->burst, now);
        if (!use.allowed) {
            std::string message = !req->rejected_msg.empty()
                                      ? req->rejected_msg
                                      : "Rate limit of " + amountText(req->rate) +
                                            " requests per second reached " + where_;
            out.rejection = reject(LimitPlugin::LimitReq, req->rejected_code, std::move(message),
                                   "requests", out.headers, use.retry_after);
            return out;
        }
        if (!req->nodelay) out.delay = use.delay;
    }
    return out;
}

void RouteLimits::deduct(const Admission& admission, const Usage& usage, Millis now) const {
    if (!store_ || !ai_rate_limiting_ || admission.budget_key.empty()) return;
    double amount = usedAmount(ai_rate_limiting_->limit_strategy, usage);
    if (amount <= 0) return;
    store_->add(admission.budget_key, Millis{ai_rate_limiting_->time_window * 1000}, amount, now);
}

}  // namespace aiproxy::plugins
