#include "request_flow.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "aiproxy/ai/error_answer.hpp"
#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "aiproxy/http/json_error.hpp"
#include "aiproxy/observe/access_record.hpp"
#include "request_tracer.hpp"

namespace aiproxy::server {
namespace {

// What the route's '*' matched, or the whole path without its leading '/' for an exact route.
std::string_view apiPath(const router::RouteMatch& match, const http::ClientRequest& request) {
    if (match.prefix) return match.rest;
    std::string_view path = request.path;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    return path;
}

std::optional<std::string_view> unlessEmpty(std::string_view text) {
    if (text.empty()) return std::nullopt;
    return text;
}

// Usage by consumer: one lookup, only for a request that has both a consumer and tokens.
void recordConsumerUsage(const Snapshot& snapshot, const http::RequestContext& context,
                         std::size_t slot) {
    const auto& outcome = context.outcome;
    if (context.consumer.empty() || (!outcome.prompt_tokens && !outcome.completion_tokens)) return;
    auto found = snapshot.consumer_metrics.find(context.consumer);
    if (found == snapshot.consumer_metrics.end()) return;
    const auto& cells = found->second;
    if (outcome.prompt_tokens) cells.prompt_tokens->add(slot, *outcome.prompt_tokens);
    if (outcome.completion_tokens) cells.completion_tokens->add(slot, *outcome.completion_tokens);
    if (outcome.cost_usd && *outcome.cost_usd > 0) {
        cells.cost->add(slot, static_cast<std::uint64_t>(std::llround(*outcome.cost_usd * 1e9)));
    }
}

}  // namespace

// GCC 12 inlines Asio's frame allocation (aligned_alloc) and its sized operator delete into these
// coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

std::optional<router::RouteMatch> RequestFlow::matchRoute(
    const Snapshot& snapshot, http::ClientRequest& request,
    const std::function<const nlohmann::json*()>& json_body) const {
    if (snapshot.real_ip) {
        // server.real_ip: the client named by the header (every field of it, in order), when the
        // peer is a trusted proxy.
        request.client_address = snapshot.real_ip->resolve(
            request.peer_address,
            http::combinedFieldValue(request.message.base(), snapshot.real_ip->header()));
    }
    return snapshot.routes.match(router::RequestVars{
        .method = request.message.method_string(),
        .host = request.message[http::bhttp::field::host],
        .uri = request.path,
        .request_uri = request.message.target(),
        .query = request.query,
        .remote_addr = request.clientAddress(),
        .body = request.message.body(),
        .header = [&request](std::string_view name) -> std::optional<std::string_view> {
            auto field = request.message.find(name);
            if (field == request.message.end()) return std::nullopt;
            return std::string_view{field->value()};
        },
        .json_body = json_body,
    });
}

http::awaitable<void> RequestFlow::answerUnrouted(http::ClientRequest& request,
                                                  http::ResponseSink& sink,
                                                  std::chrono::steady_clock::time_point started,
                                                  RequestTracer* tracer) {
    auto message = "no route matches " + std::string(request.message.method_string()) + " " +
                   std::string(request.path);
    auto response =
        http::jsonErrorResponse(404, message, "invalid_request_error", "route_not_found");
    response.set("X-Request-Id", request.request_id);
    co_await sink.send(std::move(response));
    if (metrics_ && metrics_->unrouted) metrics_->unrouted->add(services_.metrics_slot);
    if (tracer) tracer->finish(request, nullptr, nullptr, sink);
    writeAccessLog(request, nullptr, nullptr, sink, started, tracer);
}

http::awaitable<bool> RequestFlow::admitHead(const Snapshot& snapshot, http::ClientRequest& request,
                                             http::ResponseSink& sink) {
    auto started = std::chrono::steady_clock::now();
    // A route that looks into the body (post_arg) cannot be chosen from the head: then the body
    // is read and the whole request decides, as without Expect.
    bool needs_body = false;
    auto match = matchRoute(snapshot, request, [&needs_body]() -> const nlohmann::json* {
        needs_body = true;
        return nullptr;
    });
    if (needs_body) co_return true;
    if (!match) {
        co_await answerUnrouted(request, sink, started);
        co_return false;
    }
    const auto& route = snapshot.compiled[match->route_index];
    http::RequestContext context{.request = request,
                                 .sink = sink,
                                 .services = services_,
                                 .started = started,
                                 .api_path = apiPath(*match, request)};
    auto verdict = co_await runStages(route, context, true);
    if (verdict == http::StageVerdict::Continue) co_return true;
    writeAccessLog(request, &route, &context, sink, started);
    co_return false;
}

http::awaitable<void> RequestFlow::handle(const Snapshot& snapshot, http::ClientRequest& request,
                                          http::ResponseSink& sink) {
    auto started = std::chrono::steady_clock::now();
    // Tracing off: nothing is built; only a malformed trace context is kept from the upstream.
    std::optional<RequestTracer> tracer;
    if (metrics_ && metrics_->trace_exporter) {
        tracer.emplace(*metrics_->trace_exporter, metrics_->trace_sample_ratio, trace_ids_,
                       request.message);
    } else {
        dropMalformedTraceContext(request.message);
    }
    RequestTracer* trace = tracer ? &*tracer : nullptr;
    auto match = matchRoute(snapshot, request, [&request] { return request.jsonBody(); });
    if (!match) {
        co_await answerUnrouted(request, sink, started, trace);
        co_return;
    }
    const auto& route = snapshot.compiled[match->route_index];
    if (!route.proxy) {  // validation requires a terminal stage; never crash if not
        co_await sink.send(http::jsonErrorResponse(500,
                                                   "route " + route.id + " has no terminal stage",
                                                   "server_error", "route_misconfigured"));
        co_return;
    }
    if (route.log.payloads) sink.capturePayload(route.log.max_payload_bytes);
    http::RequestContext context{.request = request,
                                 .sink = sink,
                                 .services = services_,
                                 .started = started,
                                 .api_path = apiPath(*match, request),
                                 .trace = trace};
    if (trace) trace->setApiPath(context.api_path);
    co_await runStages(route, context, false);
    context.finish();
    recordConsumerUsage(snapshot, context, services_.metrics_slot);
    if (trace) trace->finish(request, &route, &context, sink);
    writeAccessLog(request, &route, &context, sink, started, trace);
}

http::awaitable<http::StageVerdict> RequestFlow::runStages(const CompiledRoute& route,
                                                           http::RequestContext& context,
                                                           bool head_only) {
    // Spans follow the stages: one per stage that runs, whatever the plugin.
    auto* tracer = static_cast<RequestTracer*>(context.trace);
    for (const auto& stage : route.stages) {
        if (head_only && !stage->decidesOnHead()) co_return http::StageVerdict::Continue;
        std::size_t span = tracer ? tracer->beginStage(stage->name()) : 0;
        auto verdict = co_await stage->handle(context);
        if (tracer) tracer->endStage(span, verdict, context);
        if (verdict == http::StageVerdict::Continue) continue;
        if (verdict == http::StageVerdict::Refuse) co_await sendRefusal(route, context);
        co_return verdict;
    }
    if (head_only) co_return http::StageVerdict::Continue;
    std::size_t span = tracer ? tracer->beginStage(route.proxy->name()) : 0;
    auto verdict = co_await route.proxy->handle(context);
    if (tracer) tracer->endStage(span, verdict, context);
    co_return verdict;
}

http::awaitable<void> RequestFlow::sendRefusal(const CompiledRoute& route,
                                               http::RequestContext& context) {
    auto& refusal = *context.refusal;
    auto response = ai::errorAnswer(ai::classifyClientApi(context.api_path), refusal.status,
                                    refusal.message, refusal.type, refusal.code);
    // insert, not set: a consumer group's quota headers follow the route's of the same name.
    if (refusal.top_level_message && response.body().front() == '{') {
        auto body = nlohmann::json::parse(response.body(), nullptr, false);
        if (body.is_object()) {
            body["message"] = refusal.message;
            response.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            response.prepare_payload();
        }
    }
    for (const auto& [name, value] : refusal.headers)
        response.insert(name, value);
    response.set("X-Request-Id", context.request.request_id);
    // Counted before the answer goes out, so a client that saw it finds it in /metrics.
    if (auto* cell = route.refused[ai::statusClassIndex(response.result_int())]) {
        cell->add(services_.metrics_slot);
    }
    co_await context.sink.send(std::move(response));
}

#pragma GCC diagnostic pop

void RequestFlow::writeAccessLog(const http::ClientRequest& request, const CompiledRoute* route,
                                 const http::RequestContext* context,
                                 const http::ResponseSink& sink,
                                 std::chrono::steady_clock::time_point started,
                                 const RequestTracer* tracer) {
    if (!access_log_.enabled()) return;
    observe::AccessRecord record{.time = std::chrono::system_clock::now(),
                                 .request_id = request.request_id,
                                 .client = request.clientAddress(),
                                 .peer = request.peer_address,
                                 .method = request.message.method_string(),
                                 .path = request.path,
                                 .status = sink.status(),
                                 .bytes = sink.bodyBytes(),
                                 .duration_ms = std::chrono::duration<double, std::milli>(
                                                    std::chrono::steady_clock::now() - started)
                                                    .count(),
                                 .request_model = ai::findRequestModel(request.message.body())};
    if (route) record.route = route->id;
    if (tracer) {
        record.trace_id = tracer->traceIdHex();
        record.span_id = tracer->spanIdHex();
    }
    if (context) {
        record.consumer = unlessEmpty(context->consumer);
        if (context->refusal) record.refused_by = unlessEmpty(context->refusal->plugin);
        const auto& outcome = context->outcome;
        if (outcome.proxied) {
            record.upstream = unlessEmpty(outcome.upstream);
            record.node = unlessEmpty(outcome.node);
            for (const auto& attempt : outcome.attempts) {
                record.attempts.push_back({.upstream = attempt.upstream,
                                           .node = attempt.node,
                                           .outcome = attempt.outcome,
                                           .status = attempt.status,
                                           .ms = attempt.ms,
                                           .hedge = attempt.hedge});
            }
            record.served_model = unlessEmpty(outcome.served_model);
            record.prompt_tokens = outcome.prompt_tokens;
            record.completion_tokens = outcome.completion_tokens;
            record.cost_usd = outcome.cost_usd;
            if (outcome.time_to_first_token) record.ttft_ms = *outcome.time_to_first_token * 1000;
            record.stream = unlessEmpty(outcome.stream);
        }
    }
    if (route && route->log.payloads) {
        // Only routes that opt in: prompts and answers are often confidential.
        std::string_view request_body = request.message.body();
        std::size_t limit = route->log.max_payload_bytes;
        record.payloads =
            observe::AccessPayloads{.request_body = request_body.substr(0, limit),
                                    .request_body_truncated = request_body.size() > limit,
                                    .response_body = sink.payload(),
                                    .response_body_truncated = sink.payloadTruncated()};
    }
    access_log_.add(record);
}

}  // namespace aiproxy::server
