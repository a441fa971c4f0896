#pragma once
// RequestTrace: the seam through which the proxy stage reports its upstream attempts to the
// request's trace. The worker makes one per request when tracing is on (it owns spans and
// exporting, in observe/); the proxy stage only opens and closes attempts through it, so it
// needs no tracing types. Attempts may overlap (hedging): each has its own handle.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace aiproxy::http {

struct AttemptStart {
    std::string_view upstream;  // the upstream's id
    std::string_view node;      // "host:port"
    std::string_view host;
    unsigned port = 0;
    std::string_view provider;  // "openai", "anthropic", ...; "" when none is configured
    int number = 1;             // 1 for the first attempt of the request
    bool hedge = false;  // sent while an earlier attempt was still in flight (ai-proxy hedge)
};

struct AttemptEnd {
    std::string_view outcome;  // the attempt label: "success", "timeout", "status_5xx" ...
    unsigned status = 0;       // the upstream's status; 0 when no response arrived
    std::optional<double> time_to_first_token;  // seconds
    bool committed = false;                     // this attempt's answer went to the client
    bool failed = false;
};

struct TracedAttempt {
    std::size_t span = 0;     // handle for endAttempt
    std::string traceparent;  // sent upstream with this attempt; "" sends none
};

class RequestTrace {
public:
    virtual ~RequestTrace() = default;
    virtual TracedAttempt beginAttempt(const AttemptStart& start) = 0;
    virtual void endAttempt(std::size_t span, const AttemptEnd& end) = 0;
};

}  // namespace aiproxy::http
