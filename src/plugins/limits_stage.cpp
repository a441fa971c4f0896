// The traffic phase as a stage: the route's limits (limit-req, limit-count, ai-rate-limiting),
// then those of the consumer's group, limit-req's delay, and max_concurrent's queue. The
// decisions are RouteLimits' (pure); this file only waits and answers.

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "aiproxy/plugins/concurrency_gate.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

namespace net = boost::asio;

// A request waiting for a max_concurrent slot. The grant comes from whichever worker frees the
// slot and only posts here; the timer bounds the wait and is what a grant (or the client
// leaving) cuts short.
struct SlotWait {
    explicit SlotWait(const net::any_io_executor& executor) : timer(executor) {}
    net::steady_timer timer;
    bool granted = false;
    bool client_left = false;
};

// Leaves the queue if the waiting coroutine is destroyed while still in it (shutdown), and
// gives back a slot granted to it too late, so no grant is ever posted to a dead worker.
struct QueuedTicket {
    std::shared_ptr<ConcurrencyGate> gate;
    std::uint64_t ticket = 0;
    bool pending = true;
    ~QueuedTicket() {
        if (pending && !gate->withdraw(ticket)) gate->leave();
    }
};

http::StageVerdict refuse(http::RequestContext& context, const RouteLimits& limits,
                          Rejection&& rejection) {
    if (auto* cell = limits.rejected[static_cast<std::size_t>(rejection.plugin)]) {
        cell->add(context.services.metrics_slot);
    }
    context.refusal = http::Refusal{.status = static_cast<unsigned>(rejection.status),
                                    .message = std::move(rejection.message),
                                    .type = std::move(rejection.type),
                                    .code = std::move(rejection.code),
                                    .headers = std::move(rejection.headers)};
    return http::StageVerdict::Refuse;
}

class LimitsStage final : public http::Stage {
public:
    LimitsStage(const config::RouteConfig& route, const SharedState& shared,
                metrics::CellSource* cells)
        : route_id_(route.id), limits_(route, *shared.limit_store), shared_(shared) {
        if (!cells) return;
        auto cell = [&](LimitPlugin plugin) {
            limits_.rejected[static_cast<std::size_t>(plugin)] = cells->counter(
                "aiproxy_rate_limited_total",
                "Requests refused by a limit, by route (or consumer group) and plugin.",
                {{"route", route.id}, {"plugin", std::string(limitPluginName(plugin))}});
        };
        if (route.limit_req) cell(LimitPlugin::LimitReq);
        if (route.limit_count) cell(LimitPlugin::LimitCount);
        if (route.ai_rate_limiting) cell(LimitPlugin::AiRateLimiting);
        if (route.max_concurrent) cell(LimitPlugin::MaxConcurrent);
    }

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        const RouteLimits* group = shared_.groupLimits(context.consumer);
        if (limits_.empty() && !group) co_return http::StageVerdict::Continue;
        auto& request = context.request;
        RequestKeys keys{
            .remote_addr = request.clientAddress(),
            .consumer = context.consumer,
            .header = [&request](std::string_view name) -> std::optional<std::string_view> {
                auto field = request.message.find(name);
                if (field == request.message.end()) return std::nullopt;
                return std::string_view{field->value()};
            }};
        auto now = wallClock();
        Admission admission = limits_.admit(keys, now);
        if (admission.rejection)
            co_return refuse(context, limits_, std::move(*admission.rejection));
        Admission group_admission;
        auto delay = admission.delay;
        if (group) {
            group_admission = group->admit(keys, now);
            if (auto& rejection = group_admission.rejection) {
                // The route's quota headers go out too, before the group's.
                rejection->headers.insert(rejection->headers.begin(), admission.headers.begin(),
                                          admission.headers.end());
                co_return refuse(context, *group, std::move(*rejection));
            }
            // Both leaky buckets counted the request as leaving after their delay: the longer
            // one fits both rates.
            delay = std::max(delay, group_admission.delay);
        }
        if (delay > std::chrono::milliseconds::zero()) {
            // limit-req: the request fits the rate once this much time has passed.
            net::steady_timer timer{context.services.executor};
            timer.expires_after(delay);
            co_await timer.async_wait(http::use_nothrow);
        }
        GateSlot slot;
        if (limits_.gate()) {
            auto verdict = co_await enterGate(context, admission, group_admission, slot);
            if (verdict != http::StageVerdict::Continue) co_return verdict;
        }
        // The quota left goes out with the answer, as with APISIX (refusals carry it already);
        // the group's after the route's.
        for (auto* quota : {&admission.headers, &group_admission.headers}) {
            for (auto& [name, value] : *quota)
                context.sink.addHeader(std::move(name), std::move(value));
        }
        context.on_done.push_back(
            [this, group, admission = std::move(admission),
             group_admission = std::move(group_admission),
             slot = std::make_shared<GateSlot>(std::move(slot))](http::RequestContext& done) {
                slot->release();
                Usage usage{.prompt_tokens = done.outcome.prompt_tokens,
                            .completion_tokens = done.outcome.completion_tokens,
                            .cost_usd = done.outcome.cost_usd};
                if (!admission.budget_key.empty()) limits_.deduct(admission, usage, wallClock());
                if (group && !group_admission.budget_key.empty()) {
                    group->deduct(group_admission, usage, wallClock());
                }
            });
        co_return http::StageVerdict::Continue;
    }

private:
    // max_concurrent: a slot now, a place in the queue, or a 503. Stop when the client left
    // while it waited.
    http::awaitable<http::StageVerdict> enterGate(http::RequestContext& context,
                                                  const Admission& admission,
                                                  const Admission& group_admission,
                                                  GateSlot& slot) {
        const auto& gate = limits_.gate();
        const auto& max = *limits_.maxConcurrent();
        auto executor = context.services.executor;
        auto wait = std::make_shared<SlotWait>(executor);
        QueuedTicket queued{.gate = gate, .pending = false};
        auto grant = [wait, executor] {
            net::post(executor, [wait] {
                wait->granted = true;
                wait->timer.cancel();
            });
        };
        auto entry = gate->enter(max.limit, max.queue, grant, queued.ticket);
        if (entry == ConcurrencyGate::Entry::Queued) {
            queued.pending = true;
            wait->timer.expires_after(max.queue_timeout);
            context.sink.watchForClose([wait] {
                wait->client_left = true;
                wait->timer.cancel();
            });
            co_await wait->timer.async_wait(http::use_nothrow);
            context.sink.stopWatching();
            queued.pending = false;
            // Withdrawing fails when the grant raced the timeout: the slot is this request's.
            bool got_slot = wait->granted || !gate->withdraw(queued.ticket);
            if (wait->client_left) {
                if (got_slot) gate->leave();
                context.sink.abort();  // nobody to answer: close instead of sending a 500
                co_return http::StageVerdict::Stop;
            }
            if (!got_slot) entry = ConcurrencyGate::Entry::Full;
        }
        if (entry == ConcurrencyGate::Entry::Full) {
            Rejection rejection{.plugin = LimitPlugin::MaxConcurrent,
                                .status = 503,
                                .message = "Route " + route_id_ + " is at its limit of " +
                                           std::to_string(max.limit) +
                                           " concurrent requests; retry shortly",
                                .type = "server_error",
                                .code = "too_many_concurrent_requests",
                                .headers = admission.headers};
            rejection.headers.insert(rejection.headers.end(), group_admission.headers.begin(),
                                     group_admission.headers.end());
            rejection.headers.emplace_back("Retry-After", "1");
            co_return refuse(context, limits_, std::move(rejection));
        }
        slot = GateSlot{gate};
        co_return http::StageVerdict::Continue;
    }

    std::string route_id_;
    RouteLimits limits_;
    const SharedState& shared_;
};

}  // namespace

std::unique_ptr<http::Stage> makeLimitsStage(const StageBuild& build) {
    const auto& route = build.route;
    bool route_limits =
        route.limit_req || route.limit_count || route.ai_rate_limiting || route.max_concurrent;
    // The consumer's group may have limits on any route that names consumers.
    bool group_limits = route.key_auth && !build.shared.group_limits.empty();
    if (!route_limits && !group_limits) return nullptr;
    return std::make_unique<LimitsStage>(route, build.shared, build.cells);
}

}  // namespace aiproxy::plugins
