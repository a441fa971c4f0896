#pragma once
// AccessRecord: the facts of one finished request, as the access log writes them, in plain
// types so that observe/ knows nothing of requests, routes or proxy results. The worker fills
// one per request from its own objects; appendAccessLine turns it into the log's JSON line.
//
// Views, not copies: the string_view fields point into the worker's request, route, result and
// response sink, and need stay valid only for the appendAccessLine (or AccessLogBatch::add)
// call that reads them. A record is built, handed over and dropped in the same statement block;
// nothing keeps one.
//
// Every member has a default, so designated initializers may skip any of them without GCC's
// -Wmissing-field-initializers. A nullopt field is written as null; the caller decides what is
// unknown (the formatter never turns an empty string into null, so an empty node or model must be
// passed as nullopt).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aiproxy::observe {

// One upstream attempt, in the order they were made.
struct AccessAttempt {
    std::string_view upstream{};
    std::string_view node{};
    std::string_view outcome{};  // "success", "timeout", "status_5xx", ...
    unsigned status = 0;         // 0 when no response arrived: the key is left out
    double ms = 0;
    bool hedge = false;  // a hedge (ai-proxy's hedge): "hedge":true; the key is left out otherwise
};

// The opt-in bodies of a route that logs payloads (prompts and answers are often confidential).
struct AccessPayloads {
    std::string_view request_body{};  // already cut to the route's limit
    bool request_body_truncated = false;
    std::string_view response_body{};
    bool response_body_truncated = false;
};

struct AccessRecord {
    std::chrono::system_clock::time_point time{};  // when the request ended
    std::string_view request_id{};
    std::optional<std::string_view> trace_id{};  // with tracing on; nullopt: the keys are left out
    std::optional<std::string_view> span_id{};   // the request's server span
    std::string_view client{};  // the resolved client address (real_ip), else the peer
    std::string_view peer{};
    std::string_view method{};
    std::string_view path{};
    std::optional<std::string_view> route{};  // nullopt: no route matched
    unsigned status = 0;
    std::uint64_t bytes = 0;  // response body bytes sent
    double duration_ms = 0;
    std::optional<std::string_view> upstream{};  // the one that answered or failed last
    std::optional<std::string_view> node{};
    std::vector<AccessAttempt> attempts{};
    std::optional<std::string_view> request_model{};
    std::optional<std::string_view> served_model{};
    std::optional<std::uint64_t> prompt_tokens{};
    std::optional<std::uint64_t> completion_tokens{};
    std::optional<double> cost_usd{};
    std::optional<double> ttft_ms{};
    std::optional<std::string_view> stream{};  // "complete", "client_cancel" or "upstream_cut"
    std::optional<std::string_view> consumer{};
    std::optional<std::string_view> refused_by{};  // the plugin that refused the request
    std::optional<AccessPayloads> payloads{};      // nullopt: the keys are left out
};

// Appends the record as one JSON object, without a newline. Keys always come in the same order;
// times are UTC with milliseconds ("2024-05-01T12:00:00.123Z"), durations have three decimals
// and costs eight.
void appendAccessLine(std::string& out, const AccessRecord& record);

}  // namespace aiproxy::observe
