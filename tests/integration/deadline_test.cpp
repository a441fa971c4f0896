// The request deadline of ai-proxy and ai-proxy-multi: one bound on everything before the
// response is committed (connects, attempts, retries, fallback). When it runs out the client gets
// 504 upstream_timeout with the trace of the attempts made; no attempt starts after it and a
// running one is cut at it. A response already committed (a stream under way) is not cut.
//
// Attempts are counted (X-AIProxy-Attempts, X-AIProxy-Trace, the backends' request counts)
// rather than timed; the one time bound (5 s against an attempt's 10 s) is one that no unbounded
// request could meet.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/daemon.hpp"
#include "support/daemon_fixture.hpp"
#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using State = StreamingClient::State;

// GatewayConfig (tests/support) has no deadline: its YAML ends with the route's ai-proxy block,
// whose keys sit at 8 spaces, so the key is appended there. Anything else at the end fails the
// start instead of putting the key somewhere else.
::testing::AssertionResult appendToAiProxy(std::string& yaml, const std::string& line) {
    const std::string block = "\n      ai-proxy:\n";
    auto at = yaml.rfind(block);
    if (at == std::string::npos) {
        return ::testing::AssertionFailure() << "no ai-proxy block in:\n" << yaml;
    }
    std::string_view rest = std::string_view{yaml}.substr(at + block.size());
    while (!rest.empty()) {
        auto end = rest.find('\n');
        if (end == std::string_view::npos || !rest.starts_with("        ")) {
            return ::testing::AssertionFailure() << "the ai-proxy block is not last in:\n" << yaml;
        }
        rest.remove_prefix(end + 1);
    }
    yaml += "        " + line + "\n";
    return ::testing::AssertionSuccess();
}

// X-AIProxy-Trace entries, "upstream:outcome:time" each.
std::vector<std::string> traceEntries(const Headers& headers) {
    std::vector<std::string> entries;
    std::string trace = headers.get("X-AIProxy-Trace").value_or("");
    std::size_t from = 0;
    while (from < trace.size()) {
        auto comma = trace.find(',', from);
        if (comma == std::string::npos) comma = trace.size();
        entries.push_back(trace.substr(from, comma - from));
        from = comma + 1;
    }
    return entries;
}

int attemptsOf(const Headers& headers) {
    return std::stoi(headers.get("X-AIProxy-Attempts").value_or("0"));
}

// 504 with the body the gateway writes for timeouts, and a trace entry per attempt made.
void expectDeadlineAnswer(const Response& response) {
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 504) << response.body;
    EXPECT_NE(response.headers.get("Content-Type").value_or("").find("application/json"),
              std::string::npos);
    auto body = Json::parse(response.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
    const Json& error = body["error"];
    EXPECT_TRUE(error.contains("message") && error["message"].is_string()) << response.body;
    EXPECT_EQ(error.value("type", ""), "timeout_error") << response.body;
    EXPECT_EQ(error.value("code", ""), "upstream_timeout") << response.body;
    EXPECT_EQ(traceEntries(response.headers).size(),
              static_cast<std::size_t>(attemptsOf(response.headers)))
        << response.headers.get("X-AIProxy-Trace").value_or("(no X-AIProxy-Trace)");
}

std::size_t requestsSeen(const std::vector<const MockBackend*>& backends) {
    std::size_t total = 0;
    for (const MockBackend* backend : backends)
        total += backend->requestCount();
    return total;
}

std::vector<std::string> contentChunks(int count) {
    std::vector<std::string> events;
    for (int i = 1; i <= count; ++i) {
        events.push_back(R"({"choices":[{"delta":{"content":"tok)" + std::to_string(i) +
                         R"("}}]})");
    }
    return events;
}

class DeadlineTest : public GatewayTest {
protected:
    ::testing::AssertionResult startWithDeadline(const GatewayConfig& config, int deadline_ms) {
        std::string yaml = config.yaml();
        auto appended = appendToAiProxy(yaml, "deadline: " + std::to_string(deadline_ms));
        if (!appended) return appended;
        if (daemon_.start(yaml)) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "aiproxyd did not start listening; its output:\n"
                                             << daemon_.stderrText();
    }

    // Posts once to a route whose every node hangs and which allows 4 attempts: the deadline's
    // answer comes after fewer, each of them a request one of `backends` saw.
    Response postPastTheDeadline(const std::vector<const MockBackend*>& backends) {
        Response response = post();
        expectDeadlineAnswer(response);
        int attempts = attemptsOf(response.headers);
        EXPECT_GE(attempts, 1);
        EXPECT_LT(attempts, 4) << "attempts went on after the deadline: "
                               << response.headers.get("X-AIProxy-Trace").value_or("");
        EXPECT_EQ(requestsSeen(backends), static_cast<std::size_t>(attempts));
        return response;
    }
};

// Without a deadline four attempts of 300 ms each take 1.2 s; with 500 ms the first attempt
// times out at 300 ms, the second gets the 200 ms left, and no third one starts.
TEST_F(DeadlineTest, HangingNodesGetAttemptsOnlyUntilTheDeadline) {
    MockBackend second{"primary-2"};
    MockBackend third{"primary-3"};
    const std::vector<const MockBackend*> backends{&primary_, &second, &third, &fallback_};
    for (MockBackend* backend : {&primary_, &second, &third, &fallback_})
        backend->setDefault(Reply::hang());
    GatewayConfig config = baseConfig();
    config.primary = {{primary_.address()}, {second.address()}, {third.address()}};
    config.timeout_ms = 300;
    config.retry = 3;
    ASSERT_TRUE(startWithDeadline(config, 500));

    Response response = postPastTheDeadline(backends);

    auto trace = traceEntries(response.headers);
    ASSERT_FALSE(trace.empty());
    EXPECT_EQ(trace.front().rfind("primary:timeout:", 0), 0U) << trace.front();
}

// A per-attempt timeout far beyond the deadline: the running attempt is cut at the deadline,
// not at its own timeout.
TEST_F(DeadlineTest, ARunningAttemptIsCutAtTheDeadline) {
    primary_.setDefault(Reply::hang());
    GatewayConfig config = baseConfig();
    config.fallback.clear();
    config.retry = 0;
    config.timeout_ms = 10'000;
    ASSERT_TRUE(startWithDeadline(config, 500));

    Request request = chatRequest();
    request.timeout = 8s;  // the client outwaits the 5 s bound below, not the attempt's 10 s
    auto started = Clock::now();
    Response response = sendRequest(daemon_.port(), request);
    auto elapsed = Clock::now() - started;

    expectDeadlineAnswer(response);
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
    EXPECT_LT(elapsed, 5s) << "the attempt ran on towards its own 10 s timeout";
    // The abandoned attempt's upstream connection is closed, as after a timeout.
    EXPECT_TRUE(primary_.waitForAbandonedHang());
}

// Time for the primary's timeout and then the fallback: the fallback attempt gets what is left
// (800 ms, less than its own 1000 ms), and an answer within it is relayed.
TEST_F(DeadlineTest, FallbackAnswersWithinWhatIsLeftOfTheDeadline) {
    primary_.setDefault(Reply::hang());
    GatewayConfig config = baseConfig();
    config.timeout_ms = 1000;
    config.retry = 1;
    ASSERT_TRUE(startWithDeadline(config, 1800));

    Response response = post();

    expectServedByFallback(response, fallback_);
    auto trace = traceEntries(response.headers);
    ASSERT_EQ(trace.size(), 2U) << response.headers.get("X-AIProxy-Trace").value_or("");
    EXPECT_EQ(trace[0].rfind("primary:timeout:", 0), 0U) << trace[0];
    EXPECT_EQ(trace[1].rfind("fallback:200:", 0), 0U) << trace[1];
}

// A stream that commits before the deadline (first event at 250 ms, deadline 1000 ms) and goes
// on well past it (an event every 250 ms, 1750 ms in all) is relayed to its end: the deadline
// bounds the wait for the first byte, not the response.
TEST_F(DeadlineTest, AStreamCommittedBeforeTheDeadlineRunsPastIt) {
    std::vector<std::string> events = contentChunks(6);
    events.push_back("[DONE]");
    constexpr auto kDeadline = 1000ms;
    primary_.enqueue(Reply{.kind = Reply::Kind::Stream, .events = events, .interval = 250ms});
    GatewayConfig config = baseConfig();
    config.timeout_ms = 2000;  // the idle gap allowed between events
    ASSERT_TRUE(startWithDeadline(config, static_cast<int>(kDeadline.count())));

    StreamingClient client{daemon_.port()};
    auto sent = Clock::now();
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    std::vector<SseEvent> received;
    while (auto event = client.nextEvent())
        received.push_back(*event);

    EXPECT_EQ(client.state(), State::Complete) << client.error();
    EXPECT_EQ(client.status(), 200);
    ASSERT_EQ(received.size(), events.size()) << client.body();
    for (std::size_t i = 0; i < events.size(); ++i)
        EXPECT_EQ(received[i].data, events[i]);
    // What makes this test mean something: the stream really outlasted the deadline.
    EXPECT_GE(received.back().arrived - sent, kDeadline);
    EXPECT_EQ(client.headers().get("X-AIProxy-Attempts"), "1");
    EXPECT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

// ai-proxy-multi: four hanging instances, timeouts move on (fallback_strategy), up to 3 retries.
TEST_F(DeadlineTest, MultiInstancesGetAttemptsOnlyUntilTheDeadline) {
    MockBackend third{"three"};
    MockBackend fourth{"four"};
    const std::vector<const MockBackend*> backends{&primary_, &fallback_, &third, &fourth};
    std::string instances;
    int index = 0;
    for (MockBackend* backend : {&primary_, &fallback_, &third, &fourth}) {
        backend->setDefault(Reply::hang());
        instances += "          - name: instance" + std::to_string(++index) +
                     "\n            provider: openai-compatible\n            weight: 1\n"
                     "            override: {endpoint: \"http://" +
                     backend->address() + "\"}\n";
    }
    const std::string yaml =
        "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 1\n  drain_timeout: 10\n"
        "status:\n  listen: \"127.0.0.1:0\"\n"
        "admin:\n  listen: \"127.0.0.1:0\"\n"
        "routes:\n"
        "  - id: multi_route\n"
        "    uri: /llm/*\n"
        "    plugins:\n"
        "      ai-proxy-multi:\n"
        "        fallback_strategy: instance_health_and_rate_limiting\n"
        "        max_retries: 3\n"
        "        timeout: 300\n"
        "        deadline: 500\n"
        "        instances:\n" +
        instances;
    ASSERT_TRUE(daemon_.start(yaml)) << daemon_.stderrText();

    Response response = postPastTheDeadline(backends);

    for (const std::string& entry : traceEntries(response.headers))
        EXPECT_EQ(entry.rfind("instance", 0), 0U) << entry;
}

// --check and the Admin API read deadline with the file's schema.
constexpr const char* kAdminKey = "deadline-test-admin-key-0123456789";

class DeadlineAdminTest : public DaemonFixture {
protected:
    static std::string config() {
        return std::string{
                   "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 1\n"
                   "  drain_timeout: 10\n"
                   "status:\n  enabled: false\n"
                   "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: "} +
               kAdminKey + "}]\n";
    }

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return adminCall(admin_port_, kAdminKey, method, path, body);
    }

    std::string aiProxyRoute(const std::string& deadline) const {
        return R"({"uri": "/llm/*", "plugins": {"ai-proxy": {"upstream_id": "local",
            "timeout": 5000, "deadline": )" +
               deadline + "}}}";
    }

    std::string multiRoute(const std::string& deadline) const {
        return R"({"uri": "/llm/*", "plugins": {"ai-proxy-multi": {"deadline": )" + deadline +
               R"(, "instances": [{"name": "local", "provider": "openai-compatible",
            "override": {"endpoint": "http://)" +
               backend_.address() + R"("}}]}}})";
    }

    // The daemon with an Admin API, and the upstream "local" (backend_) that routes name.
    ::testing::AssertionResult startWithUpstream() {
        auto started = startDaemon(config());
        if (!started) return started;
        if (admin_port_ == 0) return ::testing::AssertionFailure() << "no admin port logged";
        auto upstream =
            admin("PUT", "upstreams/local", R"({"nodes": {")" + backend_.address() + R"(": 1}})");
        if (upstream.status != 201) {
            return ::testing::AssertionFailure()
                   << "PUT upstreams/local: " << upstream.status << " " << upstream.body;
        }
        return ::testing::AssertionSuccess();
    }

    // The stored deadline of route `id`'s ai-proxy (null when it has none or is not found).
    Json storedDeadline(const std::string& id) {
        auto read = admin("GET", "routes/" + id);
        auto body = Json::parse(read.body, nullptr, false);
        if (read.status != 200 || !body.is_object()) return nullptr;
        return body.value(Json::json_pointer("/value/plugins/ai-proxy/deadline"), Json{});
    }

    static std::string errorMessage(const Response& response) {
        auto body = Json::parse(response.body, nullptr, false);
        if (!body.is_object() || !body.contains("error_msg")) return response.body;
        return body["error_msg"].get<std::string>();
    }
};

TEST_F(DeadlineAdminTest, ARouteWithADeadlineIsStoredAndServes) {
    ASSERT_TRUE(startWithUpstream());

    auto created = admin("PUT", "routes/chat", aiProxyRoute("2000"));
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(storedDeadline("chat"), 2000);

    Response served = sendRequest(daemon_.port(), chatRequest());
    EXPECT_EQ(served.status, 200) << served.error << served.body;
    EXPECT_EQ(served.body, backend_.defaultBody());
}

TEST_F(DeadlineAdminTest, AZeroDeadlineIsRefusedNamingTheField) {
    ASSERT_TRUE(startWithUpstream());

    auto zero = admin("PUT", "routes/chat", aiProxyRoute("0"));
    EXPECT_EQ(zero.status, 400);
    EXPECT_NE(errorMessage(zero).find("plugins.ai-proxy.deadline: must be > 0"), std::string::npos)
        << zero.body;
    auto text = admin("PUT", "routes/chat", aiProxyRoute(R"("2s")"));
    EXPECT_EQ(text.status, 400);
    EXPECT_NE(errorMessage(text).find("plugins.ai-proxy.deadline: must be an integer"),
              std::string::npos)
        << text.body;
    auto multi = admin("PUT", "routes/multi", multiRoute("-1"));
    EXPECT_EQ(multi.status, 400);
    EXPECT_NE(errorMessage(multi).find("plugins.ai-proxy-multi.deadline: must be > 0"),
              std::string::npos)
        << multi.body;
    EXPECT_EQ(admin("GET", "routes/chat").status, 404);
    EXPECT_EQ(admin("GET", "routes/multi").status, 404);

    // A patch that sets it to 0 is refused too, and the stored route keeps its deadline.
    ASSERT_EQ(admin("PUT", "routes/chat", aiProxyRoute("2000")).status, 201);
    auto patched = admin("PATCH", "routes/chat/plugins/ai-proxy/deadline", "0");
    EXPECT_EQ(patched.status, 400);
    EXPECT_NE(errorMessage(patched).find("plugins.ai-proxy.deadline: must be > 0"),
              std::string::npos)
        << patched.body;
    EXPECT_EQ(storedDeadline("chat"), 2000);
}

TEST_F(DeadlineAdminTest, MultiRouteWithADeadlineIsAccepted) {
    ASSERT_TRUE(startDaemon(config()));
    ASSERT_NE(admin_port_, 0);

    auto created = admin("PUT", "routes/multi", multiRoute("1500"));
    ASSERT_EQ(created.status, 201) << created.body;

    Response served = sendRequest(daemon_.port(), chatRequest());
    EXPECT_EQ(served.status, 200) << served.error << served.body;
}

TEST(DeadlineCheckTest, CheckNamesABadDeadlineWithItsPath) {
    TempDir dir;
    const std::string route = "routes:\n  - id: r\n    uri: /llm/*\n    plugins:\n";
    const std::string upstreams = "upstreams:\n  - id: u\n    nodes: {\"127.0.0.1:1\": 1}\n";
    auto good = dir.write("good.yaml",
                          upstreams + route + "      ai-proxy: {upstream_id: u, deadline: 500}\n");
    auto zero = dir.write("zero.yaml",
                          upstreams + route + "      ai-proxy: {upstream_id: u, deadline: 0}\n");
    auto multi =
        dir.write("multi.yaml", route +
                                    "      ai-proxy-multi: {deadline: 1.5, instances: [{name: a, "
                                    "provider: openai}]}\n");

    RunResult accepted = runAiproxyd({"--check", "-c", good.string()});
    EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
    RunResult refused = runAiproxyd({"--check", "-c", zero.string()});
    EXPECT_EQ(refused.exit_code, 1) << refused.output;
    EXPECT_NE(refused.output.find("routes[0].plugins.ai-proxy.deadline: must be > 0"),
              std::string::npos)
        << refused.output;
    RunResult fraction = runAiproxyd({"--check", "-c", multi.string()});
    EXPECT_EQ(fraction.exit_code, 1) << fraction.output;
    EXPECT_NE(fraction.output.find("routes[0].plugins.ai-proxy-multi.deadline: must be an integer"),
              std::string::npos)
        << fraction.output;
}

}  // namespace
}  // namespace aiproxy::test
