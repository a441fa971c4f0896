#include "status_board.hpp"

#include <boost/asio/post.hpp>

#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "aiproxy/config/objects.hpp"
#include "aiproxy/observe/histogram_quantile.hpp"
#include "health_report.hpp"

namespace aiproxy::server {
namespace {

using config::Document;
using RouteReading = StatusBoard::RouteReading;
using UsageReading = StatusBoard::UsageReading;
using UsageMap = std::map<std::string, UsageReading, std::less<>>;

// Sums counter cells, each once: a route whose fallback is its primary upstream holds the same
// cells in two slots.
class CellSum {
public:
    std::uint64_t operator()(const metrics::CounterCell* cell) {
        if (!cell || !seen_.insert(cell).second) return 0;
        return cell->total();
    }

private:
    std::set<const metrics::CounterCell*> seen_;
};

std::vector<std::uint64_t> buckets(const metrics::HistogramCell* cell) {
    if (!cell) return {};
    return cell->totals().buckets;
}

RouteReading readRoute(const CompiledRoute& route) {
    RouteReading out;
    CellSum sum;
    for (std::size_t c = 0; c < route.refused.size(); ++c) {
        auto n = sum(route.refused[c]);
        out.requests += n;
        if (c == 4) out.errors += n;
    }
    if (!route.proxy) return out;
    const auto& cells = route.proxy->route().metrics;
    for (const auto& classes : cells.requests) {
        for (std::size_t c = 0; c < classes.size(); ++c) {
            auto n = sum(classes[c]);
            out.requests += n;
            if (c == 4) out.errors += n;
        }
    }
    for (const auto* cell : cells.retries)
        out.retries += sum(cell);
    out.fallbacks = sum(cells.fallbacks);
    out.duration = buckets(cells.duration);
    out.ttft = buckets(cells.time_to_first_token);
    return out;
}

void addModel(UsageMap& models, const std::string& name, const ai::ModelMetrics& cells,
              CellSum& sum) {
    UsageReading reading;
    for (const auto& per_upstream : cells.tokens) {
        reading.prompt_tokens += sum(per_upstream[0]);
        reading.completion_tokens += sum(per_upstream[1]);
    }
    reading.cost_nanos = sum(cells.cost);
    auto& total = models[name];
    total.prompt_tokens += reading.prompt_tokens;
    total.completion_tokens += reading.completion_tokens;
    total.cost_nanos += reading.cost_nanos;
}

// Tokens and cost by model (over all routes) and by consumer.
std::pair<UsageMap, UsageMap> readUsage(const Snapshot& snapshot) {
    UsageMap models;
    UsageMap consumers;
    CellSum sum;
    for (const auto& route : snapshot.compiled) {
        if (!route.proxy) continue;
        const auto& cells = route.proxy->route().metrics;
        for (const auto& [name, model] : cells.models)
            addModel(models, name, model, sum);
        addModel(models, "other", cells.other_model, sum);
    }
    for (const auto& [id, cells] : snapshot.consumer_metrics) {
        consumers[id] = {.prompt_tokens = sum(cells.prompt_tokens),
                         .completion_tokens = sum(cells.completion_tokens),
                         .cost_nanos = sum(cells.cost)};
    }
    return {std::move(models), std::move(consumers)};
}

// A counter's growth since `base`; a counter that went back (the route's cells changed with a
// new snapshot) counts from zero.
std::uint64_t since(std::uint64_t now, std::uint64_t base) {
    return now >= base ? now - base : now;
}

std::vector<std::uint64_t> bucketsSince(const std::vector<std::uint64_t>& now,
                                        const std::vector<std::uint64_t>& base) {
    if (now.size() != base.size()) return now;
    std::vector<std::uint64_t> out(now.size());
    for (std::size_t i = 0; i < now.size(); ++i)
        out[i] = since(now[i], base[i]);
    return out;
}

// The newest entry at least `window` old, else the oldest; null when there is none.
template <typename Entry>
const Entry* baseline(const std::deque<Entry>& history, StatusBoard::Clock::time_point now,
                      std::chrono::seconds window) {
    const Entry* found = history.empty() ? nullptr : &history.front();
    for (const auto& entry : history) {
        if (entry.at + window > now) break;
        found = &entry;
    }
    return found;
}

double rounded(double value) {
    return std::round(value * 1000) / 1000;
}

Document orNull(std::optional<double> value) {
    return value ? Document(rounded(*value)) : Document(nullptr);
}

double seconds(StatusBoard::Clock::duration duration) {
    return std::chrono::duration<double>(duration).count();
}

Document quantilesMs(const std::vector<std::uint64_t>& buckets) {
    const auto& bounds = observe::latencyBuckets();  // the route histograms' bounds
    auto ms = [&](double q) -> std::optional<double> {
        auto value = observe::histogramQuantile(bounds, buckets, q);
        if (!value) return std::nullopt;
        return *value * 1000;
    };
    return Document{{"p50", orNull(ms(0.5))}, {"p99", orNull(ms(0.99))}};
}

const RouteReading& routeIn(const std::map<std::string, RouteReading, std::less<>>& routes,
                            const std::string& id) {
    static const RouteReading kNone;
    auto found = routes.find(id);
    return found == routes.end() ? kNone : found->second;
}

Document usageList(const UsageMap& now, const UsageMap* base, const char* key) {
    static const UsageReading kNone;
    Document out = Document::array();
    for (const auto& [name, reading] : now) {
        const UsageReading* before = &kNone;
        if (base) {
            if (auto found = base->find(name); found != base->end()) before = &found->second;
        }
        auto prompt = since(reading.prompt_tokens, before->prompt_tokens);
        auto completion = since(reading.completion_tokens, before->completion_tokens);
        auto cost = since(reading.cost_nanos, before->cost_nanos);
        if (prompt == 0 && completion == 0 && cost == 0) continue;
        out.push_back(Document{{key, name},
                               {"prompt_tokens", prompt},
                               {"completion_tokens", completion},
                               {"cost_usd", static_cast<double>(cost) * 1e-9}});
    }
    return out;
}

// Every upstream's nodes, then each ai-proxy-multi route's instances under that route.
Document upstreamList(const Snapshot& snapshot) {
    Document out = Document::array();
    for (const auto& upstream : snapshot.upstreams)
        out.push_back(healthReport(upstream->id(), *upstream->runtime()));
    for (const auto& route : snapshot.compiled) {
        if (!route.proxy || !route.proxy->route().multi) continue;
        for (const auto& instance : route.proxy->route().upstreams) {
            auto report = healthReport(instance->id(), *instance->runtime());
            report["route"] = route.id;
            out.push_back(std::move(report));
        }
    }
    return out;
}

}  // namespace

void StatusBoard::sample(const Snapshot& snapshot, Clock::time_point now) {
    // Read before taking the lock: json() on another thread need not wait for the cells.
    Reading reading{.at = now};
    for (const auto& route : snapshot.compiled)
        reading.routes.emplace(route.id, readRoute(route));
    bool usage_due = false;
    {
        std::lock_guard lock{mutex_};
        usage_due = usage_.empty() || now - usage_.back().at >= kUsageSlot - kSlot / 2;
    }
    std::optional<std::pair<UsageMap, UsageMap>> usage;
    if (usage_due) usage = readUsage(snapshot);

    std::lock_guard lock{mutex_};
    recent_.push_back(std::move(reading));
    while (recent_.size() > kChartSlots)
        recent_.pop_front();
    if (!usage) return;
    usage_.push_back(
        {.at = now, .models = std::move(usage->first), .consumers = std::move(usage->second)});
    // Keep the newest entry that is a full window old, and nothing before it.
    while (usage_.size() > 1 && usage_[1].at + kUsageWindow <= now)
        usage_.pop_front();
}

std::string StatusBoard::json(const Snapshot* snapshot, Clock::time_point now) const {
    Document out;
    out["version"] = AIPROXY_VERSION;
    out["uptime_s"] = rounded(seconds(now - started_));
    out["slot_s"] = kSlot.count();
    Document routes = Document::array();
    Document usage{
        {"window_s", 0}, {"models", Document::array()}, {"consumers", Document::array()}};
    std::uint64_t all_requests = 0;
    std::uint64_t all_errors = 0;
    std::uint64_t all_retries = 0;
    std::uint64_t all_fallbacks = 0;
    double rate_window = 0;
    if (snapshot) {
        std::map<std::string, RouteReading, std::less<>> current;
        for (const auto& route : snapshot->compiled)
            current.emplace(route.id, readRoute(route));
        auto [models, consumers] = readUsage(*snapshot);
        Document upstreams = upstreamList(*snapshot);

        std::lock_guard lock{mutex_};
        const Reading zero{.at = started_};
        const Reading* rate_base = baseline(recent_, now, kRateWindow);
        if (!rate_base) rate_base = &zero;
        const Reading* latency_base = baseline(recent_, now, kLatencyWindow);
        if (!latency_base) latency_base = &zero;
        rate_window = std::max(seconds(now - rate_base->at), 1.0);
        for (const auto& route : snapshot->compiled) {
            const auto& reading = current[route.id];
            const auto& base = routeIn(rate_base->routes, route.id);
            auto requests = since(reading.requests, base.requests);
            auto errors = since(reading.errors, base.errors);
            auto retries = since(reading.retries, base.retries);
            auto fallbacks = since(reading.fallbacks, base.fallbacks);
            all_requests += requests;
            all_errors += errors;
            all_retries += retries;
            all_fallbacks += fallbacks;
            const auto& latency = routeIn(latency_base->routes, route.id);
            // Chart: the differences of consecutive readings, the open slot last.
            Document chart_requests = Document::array();
            Document chart_errors = Document::array();
            std::vector<const RouteReading*> chain;
            if (recent_.empty()) chain.push_back(&routeIn(zero.routes, route.id));
            for (const auto& entry : recent_)
                chain.push_back(&routeIn(entry.routes, route.id));
            chain.push_back(&reading);
            for (std::size_t i = chain.size(); i <= kChartSlots; ++i) {
                chart_requests.push_back(0);
                chart_errors.push_back(0);
            }
            for (std::size_t i = 1; i < chain.size(); ++i) {
                chart_requests.push_back(since(chain[i]->requests, chain[i - 1]->requests));
                chart_errors.push_back(since(chain[i]->errors, chain[i - 1]->errors));
            }
            Document ids = Document::array();
            std::int64_t active_streams = 0;
            if (route.proxy) {
                for (const auto& upstream : route.proxy->route().upstreams)
                    ids.push_back(upstream->id());
                if (const auto* gauge = route.proxy->route().metrics.active_streams) {
                    active_streams = gauge->total();
                }
            }
            routes.push_back(Document{
                {"id", route.id},
                {"upstreams", std::move(ids)},
                {"multi", route.proxy && route.proxy->route().multi},
                {"requests_total", reading.requests},
                {"errors_total", reading.errors},
                {"requests_per_s", rounded(static_cast<double>(requests) / rate_window)},
                {"error_rate", requests ? Document(rounded(static_cast<double>(errors) /
                                                           static_cast<double>(requests)))
                                        : Document(nullptr)},
                {"retries_per_min", rounded(static_cast<double>(retries) * 60 / rate_window)},
                {"fallbacks_per_min", rounded(static_cast<double>(fallbacks) * 60 / rate_window)},
                {"active_streams", active_streams},
                {"latency_ms", quantilesMs(bucketsSince(reading.duration, latency.duration))},
                {"ttft_ms", quantilesMs(bucketsSince(reading.ttft, latency.ttft))},
                {"chart", Document{{"requests", std::move(chart_requests)},
                                   {"errors", std::move(chart_errors)}}}});
        }
        const UsageSample* usage_base = baseline(usage_, now, kUsageWindow);
        usage["window_s"] = rounded(seconds(now - (usage_base ? usage_base->at : started_)));
        usage["models"] = usageList(models, usage_base ? &usage_base->models : nullptr, "model");
        usage["consumers"] =
            usageList(consumers, usage_base ? &usage_base->consumers : nullptr, "consumer");
        out["upstreams"] = std::move(upstreams);
    } else {
        out["upstreams"] = Document::array();
    }
    if (rate_window == 0) rate_window = 1;
    out["totals"] = Document{
        {"window_s", rounded(rate_window)},
        {"requests_per_s", rounded(static_cast<double>(all_requests) / rate_window)},
        {"error_rate", all_requests ? Document(rounded(static_cast<double>(all_errors) /
                                                       static_cast<double>(all_requests)))
                                    : Document(nullptr)},
        {"retries_per_min", rounded(static_cast<double>(all_retries) * 60 / rate_window)},
        {"fallbacks_per_min", rounded(static_cast<double>(all_fallbacks) * 60 / rate_window)}};
    out["routes"] = std::move(routes);
    out["usage"] = std::move(usage);
    return out.dump();
}

StatusSampler::StatusSampler(StatusBoard& board, boost::asio::any_io_executor executor,
                             std::function<std::shared_ptr<const Snapshot>()> current)
    : board_(board), current_(std::move(current)), timer_(std::move(executor)) {}

// The board's zero reading at its start is the first baseline. A sample taken at once would
// land in the middle of the first requests and split one's counters (its retry counted, the
// request not yet), so the first rates would miss it; the first sample comes a slot later.
void StatusSampler::start() {
    auto first = StatusBoard::Clock::now() + StatusBoard::kSlot;
    timer_.expires_at(first);
    timer_.async_wait([this, first](const boost::system::error_code& ec) {
        if (!ec) sample(first);
    });
}

void StatusSampler::sample(StatusBoard::Clock::time_point due) {
    auto now = StatusBoard::Clock::now();
    if (auto snapshot = current_()) board_.sample(*snapshot, now);
    auto next = due + StatusBoard::kSlot;
    if (next <= now) next = now + StatusBoard::kSlot;
    timer_.expires_at(next);
    timer_.async_wait([this, next](const boost::system::error_code& ec) {
        if (!ec) sample(next);
    });
}

}  // namespace aiproxy::server
