#include "attempt_trace.hpp"

namespace aiproxy::ai {

std::optional<std::size_t> traceAttemptStart(http::RequestContext& context,
                                             const AttemptTarget& target, int number, bool hedge,
                                             std::string& head) {
    if (!context.trace) return std::nullopt;
    const auto& upstream = *target.upstream;
    const auto& node = upstream.nodes()[target.node];
    auto traced = context.trace->beginAttempt({.upstream = upstream.id(),
                                               .node = node.address,
                                               .host = node.host,
                                               .port = node.port,
                                               .provider = upstream.config().provider,
                                               .number = number,
                                               .hedge = hedge});
    // The head ends with the blank line; the field goes before it. The client's own traceparent
    // was taken out when the request arrived, so this is the only one.
    if (!traced.traceparent.empty() && head.size() >= 2) {
        head.insert(head.size() - 2, "traceparent: " + traced.traceparent + "\r\n");
    }
    return traced.span;
}

void traceAttemptEnd(http::RequestContext& context, const AttemptReport& report,
                     std::string_view label) {
    if (!context.trace || !report.trace_span) return;
    context.trace->endAttempt(*report.trace_span,
                              {.outcome = label,
                               .status = report.status,
                               .time_to_first_token = report.time_to_first_token,
                               .committed = report.committed,
                               .failed = report.outcome.failure != Failure::None});
}

}  // namespace aiproxy::ai
