// TTFT hedging (ai-proxy's `hedge`): through the real daemon, two nodes of one upstream, one of
// them slow to its first content. The slow node is the heavier one, so round robin sends it the
// first attempt; the hedge can only go to the other node.

#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/daemon_fixture.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "hedging-test-admin-key-0123456789";
constexpr const char* kContent = R"({"choices":[{"delta":{"content":"hi"}}]})";

struct HedgeSetup {
    std::string hedge = "{after_ms: 100}";
    std::string upstream_extra;  // more members of upstream u
    int retry = 1;
    bool single_node = false;
    std::string access_log;
};

class HedgingTest : public DaemonFixture {
protected:
    ::testing::AssertionResult start(const HedgeSetup& setup) {
        std::string nodes = "\"" + slow_.address() + "\": 10";
        if (!setup.single_node) nodes += ", \"" + fast_.address() + "\": 1";
        std::string config =
            "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 1\n  drain_timeout: 1\n"
            "status:\n  listen: \"127.0.0.1:0\"\n"
            "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: " +
            std::string(kAdminKey) + "}]\n" + "log:\n  level: info\n" +
            (setup.access_log.empty() ? "" : "  access_log: " + setup.access_log + "\n") +
            "upstreams:\n  - id: u\n    nodes: {" + nodes + "}\n" + setup.upstream_extra +
            "routes:\n  - id: chat\n    uri: /llm/*\n    plugins:\n      ai-proxy:\n"
            "        upstream_id: u\n        timeout: 5000\n        retry: " +
            std::to_string(setup.retry) + "\n" +
            (setup.hedge.empty() ? "" : "        hedge: " + setup.hedge + "\n");
        return startWithStatusAndAdmin(config);
    }

    double hedges(const std::string& kind) {
        return metric("aiproxy_hedges_" + kind + "_total{route=\"chat\",upstream=\"u\"}");
    }

    double attempts(const MockBackend& node, const std::string& outcome) {
        return metric("aiproxy_upstream_attempts_total{upstream=\"u\",node=\"" + node.address() +
                      "\",outcome=\"" + outcome + "\"}");
    }

    // The request is counted a moment after its answer is out; nothing announces it.
    bool countedEventually(const std::function<bool()>& condition) {
        for (auto until = std::chrono::steady_clock::now() + kWaitTimeout;
             std::chrono::steady_clock::now() < until;) {
            if (condition()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return condition();
    }

    MockBackend& slow_ = backend_;
    MockBackend fast_{"fast"};
};

TEST_F(HedgingTest, SlowNodeIsHedgedAndTheFastAnswerIsServed) {
    slow_.setDefault(Reply::hang());
    // One failure would eject a node: losing the race must not count as one.
    ASSERT_TRUE(
        start({.upstream_extra =
                   "    checks: {passive: {unhealthy: {tcp_failures: 1, timeouts: 1}}}\n"}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, fast_.defaultBody());
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "2");
    EXPECT_NE(response.headers.get("X-AIProxy-Trace").value_or("").find("u:hedge_cancelled:"),
              std::string::npos);
    // The loser's connection is closed, so its upstream stops working for nobody.
    EXPECT_TRUE(slow_.waitForAbandonedHang());
    ASSERT_TRUE(countedEventually([&] { return hedges("won") == 1; }));
    EXPECT_EQ(hedges("sent"), 1);
    // Each attempt is recorded when it ends, which may be after the client has its answer.
    EXPECT_TRUE(countedEventually([&] { return attempts(slow_, "hedge_cancelled") == 1; }));
    EXPECT_TRUE(countedEventually([&] { return attempts(fast_, "success") == 1; }));
    // A lost race is no failure: the slow node is not ejected.
    auto health = Json::parse(adminCall(admin_port_, kAdminKey, "GET", "upstreams/u/health").body,
                              nullptr, false);
    ASSERT_TRUE(health.is_object());
    EXPECT_EQ(health["nodes"][0]["state"], "healthy") << health.dump();
    EXPECT_EQ(health["nodes"][1]["state"], "healthy") << health.dump();
}

TEST_F(HedgingTest, StreamFromTheHedgeWinsAndTheSlowStreamIsClosed) {
    auto never = std::make_shared<Gate>();  // the slow stream's first content never comes
    slow_.setDefault(Reply::gatedSse({kContent}, never));
    fast_.setDefault(Reply::sse({kContent, "[DONE]"}));
    ASSERT_TRUE(start({}));
    StreamingClient client(daemon_.port());
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(client.readHeader()) << client.error();
    EXPECT_EQ(client.status(), 200);
    auto event = client.nextEvent();
    ASSERT_TRUE(event) << client.error();
    EXPECT_EQ(event->data, kContent);
    EXPECT_EQ(client.readToEnd(), StreamingClient::State::Complete);
    EXPECT_TRUE(slow_.waitForStreamCancelled());
    ASSERT_TRUE(countedEventually([&] { return hedges("won") == 1; }));
    EXPECT_EQ(hedges("sent"), 1);
}

TEST_F(HedgingTest, FastOriginalSendsNoHedge) {
    ASSERT_TRUE(start({.hedge = "{after_ms: 3000}"}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.body, slow_.defaultBody());
    ASSERT_TRUE(countedEventually([&] { return attempts(slow_, "success") == 1; }));
    EXPECT_EQ(fast_.requestCount(), 0u);
    EXPECT_EQ(hedges("sent"), 0);
    EXPECT_EQ(hedges("won"), 0);
}

TEST_F(HedgingTest, SingleNodeUpstreamIsNeverHedgedToItself) {
    Reply late = Reply::json(200, R"({"served_by":"late"})");
    late.delay = std::chrono::milliseconds(300);
    slow_.setDefault(late);
    ASSERT_TRUE(start({.hedge = "{after_ms: 20}", .single_node = true}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.body, R"({"served_by":"late"})");
    EXPECT_EQ(slow_.requestCount(), 1u);
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
    EXPECT_EQ(hedges("sent"), 0);
}

TEST_F(HedgingTest, SpentRetryBudgetSendsNoHedge) {
    Reply late = Reply::json(200, R"({"served_by":"late"})");
    late.delay = std::chrono::milliseconds(300);
    slow_.setDefault(late);
    ASSERT_TRUE(start({.hedge = "{after_ms: 20}",
                       .upstream_extra = "    retry_budget: {ratio: 0, min_per_second: 0}\n"}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.body, R"({"served_by":"late"})");
    EXPECT_EQ(fast_.requestCount(), 0u);
    EXPECT_EQ(hedges("sent"), 0);
    EXPECT_EQ(metric("aiproxy_retry_budget_exhausted_total{upstream=\"u\"}"), 1);
}

TEST_F(HedgingTest, NoHedgeWhenRetryIsZero) {
    Reply late = Reply::json(200, R"({"served_by":"late"})");
    late.delay = std::chrono::milliseconds(300);
    slow_.setDefault(late);
    ASSERT_TRUE(start({.hedge = "{after_ms: 20}", .retry = 0}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.body, R"({"served_by":"late"})");
    EXPECT_EQ(fast_.requestCount(), 0u);
    EXPECT_EQ(hedges("sent"), 0);
}

TEST_F(HedgingTest, OriginalFailingAfterTheHedgeWasSentLeavesTheHedgeToAnswer) {
    auto slow_gate = std::make_shared<Gate>();
    auto fast_gate = std::make_shared<Gate>();
    slow_.setDefault(Reply::gatedSse(
        {R"({"error":{"message":"overloaded","type":"server_error"}})"}, slow_gate));
    fast_.setDefault(Reply::gatedSse({kContent, "[DONE]"}, fast_gate));
    ASSERT_TRUE(start({}));
    StreamingClient client(daemon_.port());
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(fast_.waitForRequests(1));  // the hedge is out
    slow_gate->releaseAll();                // the original fails with an error event
    ASSERT_TRUE(countedEventually([&] { return attempts(slow_, "stream_error") == 1; }));
    fast_gate->releaseAll();
    ASSERT_TRUE(client.readHeader()) << client.error();
    EXPECT_EQ(client.status(), 200);
    auto event = client.nextEvent();
    ASSERT_TRUE(event) << client.error();
    EXPECT_EQ(event->data, kContent);
    ASSERT_TRUE(countedEventually([&] { return hedges("won") == 1; }));
    // Recorded when the relay ends, which may be after the client read the event.
    EXPECT_TRUE(countedEventually([&] { return attempts(fast_, "success") == 1; }));
}

TEST_F(HedgingTest, RetryableStatusOfTheOriginalWaitsForTheHedge) {
    // retry 1 is spent on the hedge: without it racing, the 503 would be the answer.
    Reply unavailable = Reply::json(503, R"({"error":{"message":"busy"}})");
    unavailable.delay = std::chrono::milliseconds(300);
    slow_.setDefault(unavailable);
    Reply later = Reply::json(200, R"({"served_by":"fast"})");
    later.delay = std::chrono::milliseconds(700);
    fast_.setDefault(later);
    ASSERT_TRUE(start({}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, R"({"served_by":"fast"})");
}

TEST_F(HedgingTest, BothFailingAnswersAsRetriesWould) {
    auto slow_gate = std::make_shared<Gate>();
    slow_.setDefault(Reply::gatedSse({R"({"error":{"message":"overloaded"}})"}, slow_gate));
    fast_.setDefault(Reply::reset());
    ASSERT_TRUE(start({}));
    StreamingClient client(daemon_.port());
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(fast_.waitForRequests(1));
    ASSERT_TRUE(countedEventually([&] { return attempts(fast_, "reset") == 1; }));
    slow_gate->releaseAll();
    ASSERT_TRUE(client.readHeader()) << client.error();
    EXPECT_EQ(client.status(), 502);
    EXPECT_EQ(client.headers().get("X-AIProxy-Attempts"), "2");
}

TEST_F(HedgingTest, ClientLeavingCancelsBothAttempts) {
    slow_.setDefault(Reply::hang());
    fast_.setDefault(Reply::hang());
    ASSERT_TRUE(start({}));
    StreamingClient client(daemon_.port());
    ASSERT_TRUE(client.send(chatRequest()));
    ASSERT_TRUE(fast_.waitForRequests(1));
    client.close();
    EXPECT_TRUE(slow_.waitForAbandonedHang());
    EXPECT_TRUE(fast_.waitForAbandonedHang());
    ASSERT_TRUE(countedEventually([&] { return attempts(fast_, "client_cancel") == 1; }));
    EXPECT_TRUE(countedEventually([&] { return attempts(slow_, "client_cancel") == 1; }));
    EXPECT_EQ(hedges("won"), 0);
}

TEST_F(HedgingTest, AccessLogShowsBothAttempts) {
    TempDir logs;
    auto path = logs.path() / "access.log";
    slow_.setDefault(Reply::hang());
    ASSERT_TRUE(start({.access_log = path.string()}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    Json line;
    ASSERT_TRUE(countedEventually([&] {
        auto text = readFile(path);
        if (text.empty()) return false;
        line = Json::parse(text.substr(0, text.find('\n')), nullptr, false);
        return line.is_object();
    }));
    ASSERT_EQ(line["attempts"].size(), 2u) << line.dump();
    EXPECT_EQ(line["attempts"][0]["node"], slow_.address());
    EXPECT_EQ(line["attempts"][0]["outcome"], "hedge_cancelled");
    EXPECT_FALSE(line["attempts"][0].contains("hedge"));
    EXPECT_EQ(line["attempts"][1]["node"], fast_.address());
    EXPECT_EQ(line["attempts"][1]["outcome"], "success");
    EXPECT_EQ(line["attempts"][1]["hedge"], true);
    EXPECT_EQ(line["node"], fast_.address());
}

TEST_F(HedgingTest, OffWhenNotConfigured) {
    Reply late = Reply::json(200, R"({"served_by":"late"})");
    late.delay = std::chrono::milliseconds(200);
    slow_.setDefault(late);
    ASSERT_TRUE(start({.hedge = ""}));
    auto response = sendRequest(daemon_.port(), chatRequest());
    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.body, R"({"served_by":"late"})");
    EXPECT_EQ(fast_.requestCount(), 0u);
    EXPECT_EQ(hedges("sent"), -1);  // the series exists only on hedging routes
}

}  // namespace
}  // namespace aiproxy::test
