// appendAccessLine: the access log's line, byte for byte. The golden lines are the ones the
// worker's own writer produced before the formatting moved here; log pipelines parse them, so a
// changed key order, number format or null is a breaking change.

#include "aiproxy/observe/access_record.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace aiproxy::observe {
namespace {

using namespace std::chrono_literals;

// 2024-05-01T12:34:56.789Z, with microseconds the log does not show.
const std::chrono::system_clock::time_point kTime =
    std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 12h + 34min + 56s + 789ms + 999us;

std::string lineOf(const AccessRecord& record) {
    std::string out;
    appendAccessLine(out, record);
    return out;
}

// What every request has, whether or not it reached an upstream.
AccessRecord basicRecord() {
    return AccessRecord{
        .time = kTime,
        .request_id = "9f2c4e1a0b7d4c3e8a6f5d2b1c0e9a87",
        .client = "203.0.113.7",
        .peer = "10.0.0.2",
        .method = "POST",
        .path = "/v1/chat/completions",
    };
}

TEST(AccessRecordTest, UnroutedRequestHasNullRouteAndNoAttempts) {
    AccessRecord record = basicRecord();
    record.method = "GET";
    record.path = "/nowhere";
    record.status = 404;
    record.bytes = 57;
    record.duration_ms = 0.2504;
    EXPECT_EQ(
        lineOf(record),
        R"({"time":"2024-05-01T12:34:56.789Z","request_id":"9f2c4e1a0b7d4c3e8a6f5d2b1c0e9a87",)"
        R"("client":"203.0.113.7","peer":"10.0.0.2","method":"GET","path":"/nowhere",)"
        R"("route":null,"status":404,"bytes":57,"duration_ms":0.250,"upstream":null,)"
        R"("node":null,"attempts":[],"request_model":null,"served_model":null,)"
        R"("prompt_tokens":null,"completion_tokens":null,"cost_usd":null,"ttft_ms":null,)"
        R"("stream":null,"consumer":null})");
}

TEST(AccessRecordTest, RefusedRequestHasItsRouteAndModelButNoUpstream) {
    AccessRecord record = basicRecord();
    record.route = "chat";
    record.status = 429;
    record.bytes = 112;
    record.duration_ms = 1.5;
    record.request_model = "gpt-4o";
    EXPECT_EQ(
        lineOf(record),
        R"({"time":"2024-05-01T12:34:56.789Z","request_id":"9f2c4e1a0b7d4c3e8a6f5d2b1c0e9a87",)"
        R"("client":"203.0.113.7","peer":"10.0.0.2","method":"POST",)"
        R"("path":"/v1/chat/completions","route":"chat","status":429,"bytes":112,)"
        R"("duration_ms":1.500,"upstream":null,"node":null,"attempts":[],)"
        R"("request_model":"gpt-4o","served_model":null,"prompt_tokens":null,)"
        R"("completion_tokens":null,"cost_usd":null,"ttft_ms":null,"stream":null,)"
        R"("consumer":null})");
}

TEST(AccessRecordTest, ProxiedRequestHasAttemptsUsageCostAndStreamOutcome) {
    AccessRecord record = basicRecord();
    record.route = "chat";
    record.status = 200;
    record.bytes = 48213;
    record.duration_ms = 1234.5678;
    record.upstream = "openai-fallback";
    record.node = "api.openai.com:443";
    // A failed connect has no status (the key is left out); a response has one.
    record.attempts = {
        {.upstream = "openai-primary",
         .node = "10.0.0.5:8080",
         .outcome = "connect_error",
         .ms = 3},
        {.upstream = "openai-fallback",
         .node = "api.openai.com:443",
         .outcome = "success",
         .status = 200,
         .ms = 412.3456},
    };
    record.request_model = "gpt-4o";
    record.served_model = "gpt-4o-2024-08-06";
    record.prompt_tokens = 0;  // zero is a count, not null
    record.completion_tokens = 18446744073709551615ULL;
    record.cost_usd = 0.001234567891;
    record.ttft_ms = 0.25 * 1000;  // the worker's seconds, times 1000
    record.stream = "complete";
    record.consumer = "alice";
    EXPECT_EQ(
        lineOf(record),
        R"({"time":"2024-05-01T12:34:56.789Z","request_id":"9f2c4e1a0b7d4c3e8a6f5d2b1c0e9a87",)"
        R"("client":"203.0.113.7","peer":"10.0.0.2","method":"POST",)"
        R"("path":"/v1/chat/completions","route":"chat","status":200,"bytes":48213,)"
        R"("duration_ms":1234.568,"upstream":"openai-fallback","node":"api.openai.com:443",)"
        R"("attempts":[{"upstream":"openai-primary","node":"10.0.0.5:8080",)"
        R"("outcome":"connect_error","ms":3.000},{"upstream":"openai-fallback",)"
        R"("node":"api.openai.com:443","outcome":"success","status":200,"ms":412.346}],)"
        R"("request_model":"gpt-4o","served_model":"gpt-4o-2024-08-06","prompt_tokens":0,)"
        R"("completion_tokens":18446744073709551615,"cost_usd":0.00123457,)"
        R"("ttft_ms":250.000,"stream":"complete","consumer":"alice"})");
}

TEST(AccessRecordTest, CutStreamWithoutFirstTokenHasNullTtft) {
    AccessRecord record = basicRecord();
    record.route = "chat";
    record.status = 200;
    record.upstream = "openai";
    record.node = "10.0.0.5:8080";
    record.attempts = {{.upstream = "openai",
                        .node = "10.0.0.5:8080",
                        .outcome = "reset",
                        .status = 200,
                        .ms = 0.0004}};
    record.stream = "upstream_cut";
    record.cost_usd = 0;
    std::string line = lineOf(record);
    EXPECT_NE(line.find(R"("outcome":"reset","status":200,"ms":0.000}])"), std::string::npos)
        << line;
    EXPECT_NE(line.find(R"("cost_usd":0.00000000,"ttft_ms":null,"stream":"upstream_cut",)"
                        R"("consumer":null})"),
              std::string::npos)
        << line;
}

TEST(AccessRecordTest, PayloadsComeLastWithTheirTruncationFlags) {
    AccessRecord record = basicRecord();
    record.route = "chat";
    record.status = 200;
    record.bytes = 10;
    // The worker cuts the request body at the route's limit; here in the middle of "é", which
    // the log shows as U+FFFD rather than as invalid UTF-8.
    record.payloads = AccessPayloads{
        .request_body = "{\"model\":\"caf\xC3",
        .request_body_truncated = true,
        .response_body = "data: {\"x\":1}\n\n",
        .response_body_truncated = false,
    };
    EXPECT_EQ(
        lineOf(record),
        R"({"time":"2024-05-01T12:34:56.789Z","request_id":"9f2c4e1a0b7d4c3e8a6f5d2b1c0e9a87",)"
        R"("client":"203.0.113.7","peer":"10.0.0.2","method":"POST",)"
        R"("path":"/v1/chat/completions","route":"chat","status":200,"bytes":10,)"
        R"("duration_ms":0.000,"upstream":null,"node":null,"attempts":[],)"
        R"("request_model":null,"served_model":null,"prompt_tokens":null,)"
        R"("completion_tokens":null,"cost_usd":null,"ttft_ms":null,"stream":null,)"
        R"("consumer":null,"request_body":"{\"model\":\"caf\ufffd",)"
        R"("request_body_truncated":true,"response_body":"data: {\"x\":1}\n\n",)"
        R"("response_body_truncated":false})");
}

TEST(AccessRecordTest, EmptyPayloadsAreStillWritten) {
    AccessRecord record = basicRecord();
    record.payloads = AccessPayloads{};
    std::string line = lineOf(record);
    EXPECT_TRUE(
        line.ends_with(R"("consumer":null,"request_body":"","request_body_truncated":false,)"
                       R"("response_body":"","response_body_truncated":false})"))
        << line;
}

TEST(AccessRecordTest, HostileStringsAreEscapedEverywhere) {
    AccessRecord record = basicRecord();
    record.request_id = "id\"}";
    record.client = "1.2.3.4\r\n{\"fake\":1}";
    record.method = "G\tT";
    record.path = std::string_view("/a\\b\0c\x1f\x7f", 8);
    record.route = "r\"1";
    record.upstream = "up\xFF";
    record.node = "\xC0\xAF";
    record.attempts = {{.upstream = "\x01", .node = "n\"", .outcome = "success", .ms = 1}};
    record.request_model = "m\xE2\x82";
    record.served_model = "\xF0\x9F\x98\x80";  // well-formed: kept as is
    record.stream = "complete";
    record.consumer = "eve\n";
    EXPECT_EQ(lineOf(record),
              R"({"time":"2024-05-01T12:34:56.789Z","request_id":"id\"}",)"
              R"("client":"1.2.3.4\r\n{\"fake\":1}","peer":"10.0.0.2","method":"G\tT",)"
              R"("path":"/a\\b\u0000c\u001f\u007f","route":"r\"1","status":0,"bytes":0,)"
              R"("duration_ms":0.000,"upstream":"up\ufffd","node":"\ufffd\ufffd",)"
              R"("attempts":[{"upstream":"\u0001","node":"n\"","outcome":"success","ms":1.000}],)"
              R"("request_model":"m\ufffd\ufffd","served_model":")"
              "\xF0\x9F\x98\x80"
              R"(","prompt_tokens":null,"completion_tokens":null,"cost_usd":null,)"
              R"("ttft_ms":null,"stream":"complete","consumer":"eve\n"})");
    auto parsed = nlohmann::json::parse(lineOf(record));
    EXPECT_EQ(parsed["client"], "1.2.3.4\r\n{\"fake\":1}");
    EXPECT_EQ(parsed.size(), 21u);
}

TEST(AccessRecordTest, TimeIsUtcWithMilliseconds) {
    AccessRecord record;
    std::string line = lineOf(record);
    EXPECT_TRUE(line.starts_with(R"({"time":"1970-01-01T00:00:00.000Z","request_id":"",)")) << line;

    record.time = std::chrono::sys_days{std::chrono::year{2038} / 1 / 19} + 3h + 14min + 8s + 7ms;
    line = lineOf(record);
    EXPECT_TRUE(line.starts_with(R"({"time":"2038-01-19T03:14:08.007Z",)")) << line;
}

TEST(AccessRecordTest, AppendsToWhatIsAlreadyThere) {
    std::string out = "previous\n";
    appendAccessLine(out, basicRecord());
    EXPECT_TRUE(out.starts_with("previous\n{\"time\":")) << out;
    EXPECT_EQ(out.back(), '}');
}

}  // namespace
}  // namespace aiproxy::observe
