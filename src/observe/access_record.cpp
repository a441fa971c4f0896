#include "aiproxy/observe/access_record.hpp"

#include <array>
#include <cstdio>
#include <ctime>

#include "aiproxy/observe/access_log.hpp"

namespace aiproxy::observe {
namespace {

// printf formats in the "C" locale the daemon runs in, so the separator is always '.'. Real
// durations and costs need far fewer than 32 bytes; absurd ones (over 1e22) are cut there, as
// the worker's writer always cut them.
void appendFixed(std::string& out, double value, int decimals) {
    std::array<char, 32> buffer{};
    std::snprintf(buffer.data(), buffer.size(), "%.*f", decimals, value);
    out += buffer.data();
}

void appendTime(std::string& out, std::chrono::system_clock::time_point time) {
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
    std::time_t seconds = millis.count() / 1000;
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    std::array<char, 96> buffer{};
    std::snprintf(buffer.data(), buffer.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                  utc.tm_sec, static_cast<int>(millis.count() % 1000));
    out += '"';
    out += buffer.data();
    out += '"';
}

// The members after an object's first: ,"key":value, with null for nullopt.
void appendKey(std::string& out, std::string_view key) {
    out += ",\"";
    out += key;
    out += "\":";
}

void appendString(std::string& out, std::string_view key,
                  const std::optional<std::string_view>& value) {
    appendKey(out, key);
    if (value) {
        appendJsonString(out, *value);
    } else {
        out += "null";
    }
}

void appendCount(std::string& out, std::string_view key,
                 const std::optional<std::uint64_t>& value) {
    appendKey(out, key);
    out += value ? std::to_string(*value) : "null";
}

void appendFixed(std::string& out, std::string_view key, const std::optional<double>& value,
                 int decimals) {
    appendKey(out, key);
    if (value) {
        appendFixed(out, *value, decimals);
    } else {
        out += "null";
    }
}

void appendAttempt(std::string& out, const AccessAttempt& attempt) {
    out += "{\"upstream\":";
    appendJsonString(out, attempt.upstream);
    appendString(out, "node", attempt.node);
    appendString(out, "outcome", attempt.outcome);
    if (attempt.status != 0) appendCount(out, "status", attempt.status);
    appendFixed(out, "ms", attempt.ms, 3);
    if (attempt.hedge) out += ",\"hedge\":true";
    out += '}';
}

void appendPayload(std::string& out, std::string_view name, std::string_view body, bool truncated) {
    appendString(out, name, body);
    out += ",\"";
    out += name;
    out += "_truncated\":";
    out += truncated ? "true" : "false";
}

}  // namespace

void appendAccessLine(std::string& out, const AccessRecord& record) {
    out += "{\"time\":";
    appendTime(out, record.time);
    appendString(out, "request_id", record.request_id);
    // Only with tracing on, so every other line stays as it was.
    if (record.trace_id) appendString(out, "trace_id", record.trace_id);
    if (record.span_id) appendString(out, "span_id", record.span_id);
    appendString(out, "client", record.client);
    appendString(out, "peer", record.peer);
    appendString(out, "method", record.method);
    appendString(out, "path", record.path);
    appendString(out, "route", record.route);
    appendCount(out, "status", record.status);
    appendCount(out, "bytes", record.bytes);
    appendFixed(out, "duration_ms", record.duration_ms, 3);
    appendString(out, "upstream", record.upstream);
    appendString(out, "node", record.node);
    appendKey(out, "attempts");
    out += '[';
    for (std::size_t i = 0; i < record.attempts.size(); ++i) {
        if (i != 0) out += ',';
        appendAttempt(out, record.attempts[i]);
    }
    out += ']';
    appendString(out, "request_model", record.request_model);
    appendString(out, "served_model", record.served_model);
    appendCount(out, "prompt_tokens", record.prompt_tokens);
    appendCount(out, "completion_tokens", record.completion_tokens);
    appendFixed(out, "cost_usd", record.cost_usd, 8);
    appendFixed(out, "ttft_ms", record.ttft_ms, 3);
    appendString(out, "stream", record.stream);
    appendString(out, "consumer", record.consumer);
    // Only on refused requests, so every other line stays as it was.
    if (record.refused_by) appendString(out, "refused_by", record.refused_by);
    if (record.payloads) {
        // Only routes that opt in: prompts and answers are often confidential.
        appendPayload(out, "request_body", record.payloads->request_body,
                      record.payloads->request_body_truncated);
        appendPayload(out, "response_body", record.payloads->response_body,
                      record.payloads->response_body_truncated);
    }
    out += '}';
}

}  // namespace aiproxy::observe
