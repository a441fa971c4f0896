// The traffic phase as a stage: the route's limits (limit-req, limit-count, ai-rate-limiting),
// then those of the consumer's group, limit-req's delay, and max_concurrent's queue. The
// decisions are RouteLimits' (pure); this file only waits and answers.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "aiproxy/plugins/concurrency_gate.hpp"
#include "prompt_body.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {

// GCC 12 inlines Asio's coroutine frame allocation (aligned_alloc) and its sized operator delete
// into these coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
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

// Performs the run's counter operations: at once on the local store, over the network on a
// shared one.
http::awaitable<Admission> runAdmission(AdmissionRun run, LimitStore& local,
                                        http::StageServices& services) {
    while (const CounterOp* op = run.next()) {
        if (run.local()) {
            run.record(local.applyNow(*op));
        } else {
            CounterOp shared_op = *op;
            CounterAnswer answer = co_await run.store().apply(std::move(shared_op), services);
            run.record(answer);
        }
    }
    co_return std::move(run.result());
}

// What ai-rate-limiting reserves from: the text of the messages, max_tokens (or its newer
// names), and the requested model's price.
RequestEstimate estimateOf(http::RequestContext& context, const SharedState& shared) {
    RequestEstimate estimate;
    const auto* body = context.request.jsonBody();
    if (!body || !body->is_object()) return estimate;
    std::uint64_t bytes = 0;
    for (const auto& message : conversationOf(*body, promptApiOf(context.api_path)))
        bytes += message.text.size();
    estimate.prompt_tokens = tokensOfText(bytes);
    for (const char* name : {"max_completion_tokens", "max_tokens", "max_output_tokens"}) {
        auto found = body->find(name);
        if (found != body->end() && found->is_number_unsigned()) {
            estimate.max_tokens = found->get<std::uint64_t>();
            break;
        }
    }
    auto model = body->find("model");
    if (shared.price_of && model != body->end() && model->is_string()) {
        estimate.price = shared.price_of(model->get_ref<const std::string&>());
    }
    return estimate;
}

// Replaces a reservation with what the request is charged: at once locally; on a shared store
// in the background (the answer has gone; the operation is bounded by its timeout).
void settle(const RouteLimits& limits, const Admission& admission, const Usage& usage,
            LimitStore& local, http::StageServices& services) {
    auto op = limits.settlement(admission, usage, wallClock());
    if (!op) return;
    if (!admission.budget_store) {
        local.applyNow(*op);
        return;
    }
    net::co_spawn(
        services.executor,
        [store = admission.budget_store, op = std::move(*op), &services]() mutable
        -> http::awaitable<void> { co_await store->apply(std::move(op), services); },
        net::detached);
}

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

struct Held {
    Admission route;
    Admission group;
    GateSlot slot;
};

class LimitsStage final : public http::Stage {
public:
    LimitsStage(const config::RouteConfig& route, const SharedState& shared,
                metrics::CellSource* cells)
        : route_id_(route.id),
          limits_(route, *shared.limit_store, shared.redisStores()),
          shared_(shared) {
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
        RequestEstimate estimate;
        if (limits_.hasBudget() || (group && group->hasBudget())) {
            estimate = estimateOf(context, shared_);
            context.outcome.count_relayed_text = true;
        }
        auto& local = *shared_.limit_store;
        // What this request holds until it ends, whichever way: reservations to settle (a
        // request refused after its reservation settles to nothing), a concurrency slot.
        auto held = std::make_shared<Held>();
        // Named, not temporaries: GCC 12 mishandles temporaries passed by value to coroutines.
        AdmissionRun route_run = limits_.start(keys, estimate, now);
        held->route = co_await runAdmission(std::move(route_run), local, context.services);
        context.on_done.push_back([this, group, held](http::RequestContext& done) {
            held->slot.release();
            unsigned status = done.sink.status();
            Usage usage{.prompt_tokens = done.outcome.prompt_tokens,
                        .completion_tokens = done.outcome.completion_tokens,
                        .cost_usd = done.outcome.cost_usd,
                        .stream = !done.outcome.stream.empty(),
                        .relayed_text_bytes = done.outcome.relayed_text_bytes,
                        .succeeded = done.outcome.proxied && status >= 200 && status < 300};
            auto& store = *shared_.limit_store;
            settle(limits_, held->route, usage, store, done.services);
            if (group) settle(*group, held->group, usage, store, done.services);
        });
        Admission& admission = held->route;
        if (admission.rejection)
            co_return refuse(context, limits_, std::move(*admission.rejection));
        Admission& group_admission = held->group;
        auto delay = admission.delay;
        if (group) {
            AdmissionRun group_run = group->start(keys, estimate, now);
            group_admission = co_await runAdmission(std::move(group_run), local, context.services);
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
        if (limits_.gate()) {
            auto verdict = co_await enterGate(context, admission, group_admission, held->slot);
            if (verdict != http::StageVerdict::Continue) co_return verdict;
        }
        // The quota left goes out with the answer, as with APISIX (refusals carry it already);
        // the group's after the route's.
        for (auto* quota : {&admission.headers, &group_admission.headers}) {
            for (auto& [name, value] : *quota)
                context.sink.addHeader(std::move(name), std::move(value));
        }
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

#pragma GCC diagnostic pop

}  // namespace aiproxy::plugins
