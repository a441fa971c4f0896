#pragma once
// RequestTracer: the trace of one request on a gateway with tracing on. It reads the client's
// W3C trace context (a malformed one is dropped and a new trace starts), decides sampling,
// builds the spans (server, one per stage that runs, one per upstream attempt) when sampled,
// and hands them to the exporter when the request ends. Not sampled: ids only, for the
// traceparent sent upstream and the access log; no span is built.

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/http/stage.hpp"
#include "aiproxy/observe/span.hpp"
#include "aiproxy/observe/trace_exporter.hpp"

namespace aiproxy::server {

struct CompiledRoute;

// Takes out a traceparent (and its tracestate) that does not parse, so it is never forwarded;
// what a gateway without tracing does.
void dropMalformedTraceContext(http::Request& message);

// gen_ai.operation.name for the API the client speaks ("chat/completions" -> "chat"); "" when
// the path is none of GenAI's operations.
std::string_view genAiOperation(std::string_view api_path);

class RequestTracer final : public http::RequestTrace {
public:
    // Takes the client's traceparent out of `message` (each attempt sends its own) and keeps a
    // valid tracestate in it for the upstream.
    RequestTracer(observe::TraceExporter& exporter, double sample_ratio, std::mt19937_64& random,
                  http::Request& message);

    const std::string& traceIdHex() const { return trace_id_hex_; }
    const std::string& spanIdHex() const { return span_id_hex_; }

    // The route matched: the API the client speaks names the GenAI operation.
    void setApiPath(std::string_view api_path) { operation_ = genAiOperation(api_path); }
    std::size_t beginStage(std::string_view name);
    void endStage(std::size_t span, http::StageVerdict verdict,
                  const http::RequestContext& context);

    http::TracedAttempt beginAttempt(const http::AttemptStart& start) override;
    void endAttempt(std::size_t span, const http::AttemptEnd& end) override;

    // The request is over: the server span gets its attributes and the spans go to the
    // exporter. route and context are null for a request no route matched.
    void finish(const http::ClientRequest& request, const CompiledRoute* route,
                const http::RequestContext* context, const http::ResponseSink& sink);

private:
    observe::SpanId newSpanId();
    observe::Span& open(std::string name, observe::SpanKind kind, std::size_t parent);

    observe::TraceExporter& exporter_;
    std::mt19937_64& random_;
    observe::TraceId trace_id_{};
    observe::SpanId server_span_id_{};
    std::optional<observe::SpanId> remote_parent_;
    std::string trace_state_;
    bool sampled_ = false;
    std::string trace_id_hex_;
    std::string span_id_hex_;
    std::string request_model_;
    std::string_view operation_;
    std::vector<observe::Span> spans_;  // [0] is the server span; empty when not sampled
    std::size_t current_stage_ = 0;     // the parent of attempt spans
    std::optional<std::size_t> committed_attempt_;
};

}  // namespace aiproxy::server
