#include "request_tracer.hpp"

#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "aiproxy/server/snapshot.hpp"

namespace aiproxy::server {
namespace {

std::uint64_t unixNanos() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// The client's traceparent when there is exactly one and it parses.
std::optional<observe::TraceParent> incomingParent(const http::Request& message) {
    auto found = message.find("traceparent");
    if (found == message.end()) return std::nullopt;
    if (message.count("traceparent") > 1) return std::nullopt;  // which one to believe?
    return observe::parseTraceparent(found->value());
}

// OpenTelemetry's gen_ai.provider.name values for the providers the gateway knows.
std::string_view providerName(std::string_view provider) {
    if (provider == "azure-openai") return "azure.ai.openai";
    if (provider == "gemini") return "gcp.gemini";
    return provider;
}

std::int64_t asInt(std::uint64_t value) {
    return static_cast<std::int64_t>(value);
}

}  // namespace

void dropMalformedTraceContext(http::Request& message) {
    if (message.find("traceparent") == message.end() || incomingParent(message)) return;
    message.erase("traceparent");
    message.erase("tracestate");
}

std::string_view genAiOperation(std::string_view api_path) {
    if (!api_path.empty() && api_path.front() == '/') api_path.remove_prefix(1);
    if (api_path.substr(0, 3) == "v1/") api_path.remove_prefix(3);
    if (api_path == "chat/completions" || api_path == "messages" || api_path == "responses") {
        return "chat";
    }
    if (api_path == "completions") return "text_completion";
    if (api_path == "embeddings") return "embeddings";
    return {};
}

RequestTracer::RequestTracer(observe::TraceExporter& exporter, double sample_ratio,
                             std::mt19937_64& random, http::Request& message)
    : exporter_(exporter), random_(random) {
    auto parent = incomingParent(message);
    if (parent) {
        trace_id_ = parent->trace_id;
        remote_parent_ = parent->parent_id;
        auto state = http::combinedFieldValue(message.base(), "tracestate");
        if (observe::validTracestate(state)) {
            trace_state_ = std::move(state);
        } else {
            message.erase("tracestate");
        }
    } else {
        message.erase("tracestate");  // it belonged to a parent that is not there
        do {
            std::uint64_t high = random_();
            std::uint64_t low = random_();
            for (int i = 0; i < 8; ++i) {
                trace_id_[i] = static_cast<std::uint8_t>(high >> (56 - 8 * i));
                trace_id_[8 + i] = static_cast<std::uint8_t>(low >> (56 - 8 * i));
            }
        } while (observe::isZero(trace_id_));
    }
    message.erase("traceparent");  // each attempt sends its own
    sampled_ = observe::shouldSample(parent, trace_id_, sample_ratio);
    server_span_id_ = newSpanId();
    trace_id_hex_ = observe::toHex(trace_id_);
    span_id_hex_ = observe::toHex(server_span_id_);
    if (!sampled_) return;
    if (auto model = ai::findRequestModel(message.body())) request_model_ = *model;
    spans_.reserve(8);
    auto& server = spans_.emplace_back();
    server.trace_id = trace_id_;
    server.span_id = server_span_id_;
    if (remote_parent_) server.parent_span_id = *remote_parent_;
    server.trace_state = trace_state_;
    server.kind = observe::SpanKind::Server;
    server.start_unix_nano = unixNanos();
}

observe::SpanId RequestTracer::newSpanId() {
    observe::SpanId id{};
    do {
        std::uint64_t bits = random_();
        for (int i = 0; i < 8; ++i)
            id[i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
    } while (observe::isZero(id));
    return id;
}

observe::Span& RequestTracer::open(std::string name, observe::SpanKind kind, std::size_t parent) {
    auto& span = spans_.emplace_back();
    span.trace_id = trace_id_;
    span.span_id = newSpanId();
    span.parent_span_id = spans_[parent].span_id;
    span.trace_state = trace_state_;
    span.name = std::move(name);
    span.kind = kind;
    span.start_unix_nano = unixNanos();
    return span;
}

std::size_t RequestTracer::beginStage(std::string_view name) {
    if (!sampled_) return 0;
    open(std::string(name), observe::SpanKind::Internal, 0);
    current_stage_ = spans_.size() - 1;
    return current_stage_;
}

void RequestTracer::endStage(std::size_t span, http::StageVerdict verdict,
                             const http::RequestContext& context) {
    if (!sampled_ || span == 0 || span >= spans_.size()) return;
    auto& stage = spans_[span];
    stage.end_unix_nano = unixNanos();
    if (verdict == http::StageVerdict::Refuse && context.refusal) {
        const auto& refusal = *context.refusal;
        stage.set("http.response.status_code", static_cast<std::int64_t>(refusal.status));
        stage.set("error.type",
                  refusal.code.empty() ? std::to_string(refusal.status) : refusal.code);
        stage.status = observe::SpanStatus::Error;
        stage.status_message = refusal.message;
    }
    current_stage_ = 0;
}

http::TracedAttempt RequestTracer::beginAttempt(const http::AttemptStart& start) {
    if (!sampled_) {
        return {.span = 0,
                .traceparent = observe::formatTraceparent(trace_id_, newSpanId(), false)};
    }
    std::string name(operation_.empty() ? std::string_view{"http"} : operation_);
    if (!request_model_.empty()) name += " " + request_model_;
    auto& span = open(std::move(name), observe::SpanKind::Client, current_stage_);
    if (!operation_.empty()) span.set("gen_ai.operation.name", std::string(operation_));
    if (!start.provider.empty()) {
        span.set("gen_ai.provider.name", std::string(providerName(start.provider)));
    }
    if (!request_model_.empty()) span.set("gen_ai.request.model", request_model_);
    span.set("server.address", std::string(start.host));
    span.set("server.port", static_cast<std::int64_t>(start.port));
    span.set("aiproxy.upstream", std::string(start.upstream));
    span.set("aiproxy.node", std::string(start.node));
    span.set("aiproxy.attempt", static_cast<std::int64_t>(start.number));
    if (start.hedge) span.set("aiproxy.hedge", true);
    return {.span = spans_.size() - 1,
            .traceparent = observe::formatTraceparent(trace_id_, span.span_id, true)};
}

void RequestTracer::endAttempt(std::size_t span, const http::AttemptEnd& end) {
    if (!sampled_ || span == 0 || span >= spans_.size()) return;
    auto& attempt = spans_[span];
    attempt.end_unix_nano = unixNanos();
    attempt.set("aiproxy.attempt.outcome", std::string(end.outcome));
    if (end.status != 0) {
        attempt.set("http.response.status_code", static_cast<std::int64_t>(end.status));
    }
    if (end.time_to_first_token) attempt.set("aiproxy.ttft_ms", *end.time_to_first_token * 1000);
    if (end.failed) {
        attempt.status = observe::SpanStatus::Error;
        // As OpenTelemetry's HTTP client spans: the status code when one arrived, else the cause.
        attempt.set("error.type",
                    end.status >= 400 ? std::to_string(end.status) : std::string(end.outcome));
    }
    if (end.committed) committed_attempt_ = span;
}

void RequestTracer::finish(const http::ClientRequest& request, const CompiledRoute* route,
                           const http::RequestContext* context, const http::ResponseSink& sink) {
    if (!sampled_) return;
    auto now = unixNanos();
    auto& server = spans_[0];
    server.end_unix_nano = now;
    for (auto& span : spans_) {
        if (span.end_unix_nano == 0) span.end_unix_nano = now;  // a stage the client left in
    }
    std::string method(request.message.method_string());
    server.name = route ? method + " " + route->id : method;
    server.set("http.request.method", method);
    server.set("url.path", std::string(request.path));
    server.set("client.address", std::string(request.clientAddress()));
    server.set("http.response.status_code", static_cast<std::int64_t>(sink.status()));
    server.set("aiproxy.request_id", request.request_id);
    if (route) server.set("aiproxy.route", route->id);
    if (!operation_.empty()) server.set("gen_ai.operation.name", std::string(operation_));
    if (!request_model_.empty()) server.set("gen_ai.request.model", request_model_);
    if (sink.status() >= 500) {
        server.status = observe::SpanStatus::Error;
        server.set("error.type", std::to_string(sink.status()));
    }
    if (context && context->outcome.proxied) {
        const auto& outcome = context->outcome;
        if (!outcome.upstream.empty())
            server.set("aiproxy.upstream", std::string(outcome.upstream));
        // Usage and cost: on the server span and on the attempt whose answer the client got.
        auto add_usage = [&outcome](observe::Span& span) {
            if (!outcome.served_model.empty()) {
                span.set("gen_ai.response.model", outcome.served_model);
            }
            if (outcome.prompt_tokens) {
                span.set("gen_ai.usage.input_tokens", asInt(*outcome.prompt_tokens));
            }
            if (outcome.completion_tokens) {
                span.set("gen_ai.usage.output_tokens", asInt(*outcome.completion_tokens));
            }
            if (outcome.cost_usd) span.set("aiproxy.cost_usd", *outcome.cost_usd);
        };
        add_usage(server);
        if (committed_attempt_) add_usage(spans_[*committed_attempt_]);
        if (!outcome.stream.empty()) server.set("aiproxy.stream", std::string(outcome.stream));
    }
    if (route && route->log.payloads) {
        // Only routes that opt in: prompts and answers are often confidential.
        std::string_view body = request.message.body();
        server.set("aiproxy.request.body",
                   std::string(body.substr(0, route->log.max_payload_bytes)));
        server.set("aiproxy.response.body", sink.payload());
    }
    exporter_.submit(std::move(spans_));
    spans_.clear();
    sampled_ = false;  // finished once
}

}  // namespace aiproxy::server
