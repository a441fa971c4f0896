// Balancers and node health through the real binary: weighted round robin, consistent hashing,
// passive ejection with its half-open return, active probes, Retry-After, fail-open, and the
// admin health endpoint; then ai-proxy-multi's APISIX semantics (fallback strategies, priorities,
// max_retries, options per instance).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kAdminKey = "balancing-test-admin-key-0123456789";

// Two workers unless a test needs one balancer's exact sequence: health is shared by all.
std::string header(int workers = 2) {
    return "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: " + std::to_string(workers) +
           "\n  drain_timeout: 5\n"
           "status:\n  enabled: false\n"
           "admin:\n  listen: \"127.0.0.1:0\"\n  keys: [{key: " +
           kAdminKey + "}]\n";
}

class BalancingTest : public ::testing::Test {
protected:
    ::testing::AssertionResult start(const std::string& config) {
        if (!daemon_.start(config)) {
            return ::testing::AssertionFailure() << "no start:\n" << daemon_.stderrText();
        }
        if (!daemon_.waitForStderr(" ready: ")) {
            return ::testing::AssertionFailure() << "not ready:\n" << daemon_.stderrText();
        }
        admin_port_ = parsePortAfter(daemon_.stderrText(), "admin API on ").value_or(0);
        return ::testing::AssertionSuccess();
    }

    Response chat(const std::string& user = "", const std::string& body = "") {
        Request request = chatRequest("/llm/chat/completions");
        if (!user.empty()) request.headers.add("X-User", user);
        if (!body.empty()) request.body = body;
        return sendRequest(daemon_.port(), request);
    }

    // The served_by name of a default mock answer ("" when it is something else).
    static std::string servedBy(const Response& response) {
        auto body = Json::parse(response.body, nullptr, false);
        if (!body.is_object() || !body.contains("served_by")) return "";
        return body["served_by"].get<std::string>();
    }

    Json health(const std::string& path) {
        Request request{.method = "GET", .target = "/apisix/admin/" + path + "/health"};
        request.headers.add("X-API-KEY", kAdminKey);
        auto response = sendRequest(admin_port_, request);
        EXPECT_EQ(response.status, 200) << response.body;
        return Json::parse(response.body, nullptr, false);
    }

    // Polls the health endpoint (bounded) until node `index` is in `state`.
    bool waitForState(const std::string& path, std::size_t index, const std::string& state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(8)) {
        auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            auto report = health(path);
            if (report.is_object() && report["nodes"].size() > index &&
                report["nodes"][index]["state"] == state) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "--- aiproxyd log ---\n" << daemon_.stderrText();
    }

    MockBackend a_{"a"};
    MockBackend b_{"b"};
    MockBackend c_{"c"};
    Daemon daemon_;
    uint16_t admin_port_ = 0;
};

std::string route(const std::string& plugin_body) {
    return "routes:\n  - id: chat\n    uri: /llm/*\n    plugins:\n" + plugin_body;
}

std::string aiProxy(const std::string& upstream, int retry, const std::string& fallback = "") {
    std::string out = "      ai-proxy:\n        upstream_id: " + upstream +
                      "\n        retry: " + std::to_string(retry) + "\n        timeout: 5000\n";
    if (!fallback.empty()) out += "        upstream_fallback_id: " + fallback + "\n";
    return out;
}

TEST_F(BalancingTest, WeightsFourToOneGiveEightToTwoInterleaved) {
    // Each worker runs its own round robin (no shared position): exact counts need one worker.
    ASSERT_TRUE(start(header(1) + "upstreams:\n  - id: pool\n    nodes: {\"" + a_.address() +
                      "\": 4, \"" + b_.address() + "\": 1}\n" + route(aiProxy("pool", 0))));
    std::string order;
    for (int i = 0; i < 10; ++i) {
        auto response = chat();
        ASSERT_EQ(response.status, 200) << response.body;
        order += servedBy(response);
    }
    EXPECT_EQ(a_.requestCount(), 8U);
    EXPECT_EQ(b_.requestCount(), 2U);
    // Smooth weighted round robin spreads b out instead of sending it two in a row.
    EXPECT_EQ(order.find("bb"), std::string::npos) << order;
}

TEST_F(BalancingTest, ConsistentHashKeepsEachKeyOnOneNode) {
    ASSERT_TRUE(
        start(header() + "upstreams:\n  - id: pool\n    type: chash\n    hash_on: header\n" +
              "    key: X-User\n    nodes: {\"" + a_.address() + "\": 1, \"" + b_.address() +
              "\": 1, \"" + c_.address() + "\": 1}\n" + route(aiProxy("pool", 0))));
    std::set<std::string> used;
    for (int user = 0; user < 12; ++user) {
        std::string key = "user-" + std::to_string(user);
        std::string first = servedBy(chat(key));
        ASSERT_FALSE(first.empty());
        used.insert(first);
        for (int again = 0; again < 3; ++again)
            EXPECT_EQ(servedBy(chat(key)), first) << key;
    }
    EXPECT_GE(used.size(), 2U) << "12 keys should not all hash to one of three nodes";
}

// Issue 20, item 4: hash_on session pins each conversation to one node (shared by both
// workers), no node takes more than 1.25x the average share, and when a node dies only its
// sessions move, each to one new node where it stays.
TEST_F(BalancingTest, SessionAffinityPinsConversationsAndMovesOnlyADeadNodesSessions) {
    MockBackend d{"d"};
    ASSERT_TRUE(start(header() + "upstreams:\n  - id: pool\n    type: chash\n" +
                      "    hash_on: session\n    nodes: {\"" + a_.address() + "\": 1, \"" +
                      b_.address() + "\": 1, \"" + c_.address() + "\": 1, \"" + d.address() +
                      "\": 1}\n" + route(aiProxy("pool", 1))));
    constexpr int kSessions = 200;
    // Half the sessions name themselves in the header, half in the body's session_id.
    auto ask = [&](int i) {
        Request request = chatRequest("/llm/chat/completions");
        std::string id = "conversation-" + std::to_string(i);
        if (i % 2 == 0) {
            request.headers.add("X-Session-Id", id);
        } else {
            request.body = R"({"model":"gpt-4o-mini","session_id":")" + id +
                           R"(","messages":[{"role":"user","content":"hi"}]})";
        }
        auto response = sendRequest(daemon_.port(), request);
        EXPECT_EQ(response.status, 200) << response.body;
        return servedBy(response);
    };
    std::vector<std::string> home;
    std::map<std::string, int> share;
    for (int i = 0; i < kSessions; ++i) {
        home.push_back(ask(i));
        ++share[home.back()];
    }
    for (int i = 0; i < kSessions; ++i)
        ASSERT_EQ(ask(i), home[i]) << "session " << i;
    EXPECT_EQ(share.size(), 4U);
    for (const auto& [node, count] : share)
        EXPECT_LE(count, 63) << node;  // ceil(1.25 x 50)

    d.setDefault(Reply::reset());
    std::vector<std::string> moved;
    for (int i = 0; i < kSessions; ++i) {
        auto now = ask(i);
        if (home[i] != "d") {
            EXPECT_EQ(now, home[i]) << "session " << i << " moved without reason";
        }
        EXPECT_NE(now, "d");
    }
    // Once d is ejected, each of its sessions has one new home and keeps it.
    for (int i = 0; i < kSessions; ++i)
        moved.push_back(ask(i));
    for (int i = 0; i < kSessions; ++i) {
        ASSERT_EQ(ask(i), moved[i]) << "session " << i;
        if (home[i] != "d") {
            EXPECT_EQ(moved[i], home[i]);
        }
    }
}

// Issue 20, item 5: what ewma's latency sample measures. A stream whose events come 100 ms
// apart: the first content after >= 100 ms, the end >= 500 ms after it, 8 output tokens. The
// node's estimate (admin health, read at once) is the one sample taken.
struct LatencyCase {
    std::string strategy;
    double at_least;  // seconds
    double below;
};

void PrintTo(const LatencyCase& c, std::ostream* out) {
    *out << c.strategy;
}

class LatencyStrategyTest : public BalancingTest,
                            public ::testing::WithParamInterface<LatencyCase> {};

TEST_P(LatencyStrategyTest, EwmaSamplesWhatTheStrategyNames) {
    ASSERT_TRUE(start(header(1) + "upstreams:\n  - id: pool\n    type: ewma\n" +
                      "    latency_strategy: " + GetParam().strategy + "\n    nodes: {\"" +
                      a_.address() + "\": 1}\n" + route(aiProxy("pool", 0))));
    Reply stream = Reply::sse(
        {R"({"choices":[{"delta":{"content":"a"}}]})", R"({"choices":[{"delta":{"content":"b"}}]})",
         R"({"choices":[{"delta":{"content":"c"}}]})", R"({"choices":[{"delta":{"content":"d"}}]})",
         R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":8,"total_tokens":11}})",
         "[DONE]"});
    stream.interval = std::chrono::milliseconds(100);
    a_.enqueue(stream);
    auto response = sendRequest(daemon_.port(), chatRequest("/llm/chat/completions", true));
    ASSERT_EQ(response.status, 200) << response.body;
    auto report = health("upstreams/pool");
    ASSERT_TRUE(report.is_object() && report["nodes"].size() == 1U) << report.dump();
    double latency = report["nodes"][0]["latency_ms"].get<double>() / 1000;
    // The estimate decays towards zero with the time since its sample (10 s scale): ttft's is
    // read about 0.5 s after it was taken.
    EXPECT_GE(latency, GetParam().at_least * 0.9) << GetParam().strategy;
    EXPECT_LT(latency, GetParam().below) << GetParam().strategy;
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, LatencyStrategyTest,
    ::testing::Values(LatencyCase{"ttft", 0.1, 0.35},     // the first content event
                      LatencyCase{"total", 0.6, 3.0},     // the whole stream
                      LatencyCase{"tpot", 0.0625, 0.3}),  // 500 ms after it over 8 tokens
    [](const auto& test) { return test.param.strategy; });

TEST_F(BalancingTest, LeastConnAvoidsTheNodeBusyWithALongStream) {
    ASSERT_TRUE(start(header() + "upstreams:\n  - id: pool\n    type: least_conn\n" +
                      "    nodes: {\"" + a_.address() + "\": 1, \"" + b_.address() + "\": 1}\n" +
                      route(aiProxy("pool", 0))));
    auto hold = std::make_shared<Gate>();
    a_.setDefault(Reply::gatedSse({"held"}, hold));
    b_.setDefault(Reply::gatedSse({"held"}, hold));
    StreamingClient held{daemon_.port()};
    ASSERT_TRUE(held.send(chatRequest("/llm/chat/completions", true)));
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (a_.requestCount() + b_.requestCount() == 0 && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(a_.requestCount() + b_.requestCount(), 1U);
    a_.setDefault(Reply::json(200, a_.defaultBody()));
    b_.setDefault(Reply::json(200, b_.defaultBody()));
    bool a_holds = a_.requestCount() == 1U;
    // While one node relays a stream (one in flight, counted over both workers), every short
    // request goes to the other.
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(servedBy(chat()), a_holds ? "b" : "a");
    hold->releaseAll();
    EXPECT_EQ(held.readToEnd(), StreamingClient::State::Complete);
}

TEST_F(BalancingTest, EwmaSendsMostRequestsToTheFasterNode) {
    ASSERT_TRUE(start(header(1) + "upstreams:\n  - id: pool\n    type: ewma\n" + "    nodes: {\"" +
                      a_.address() + "\": 1, \"" + b_.address() + "\": 1}\n" +
                      route(aiProxy("pool", 0))));
    Reply slow = Reply::json(200, a_.defaultBody());
    slow.delay = std::chrono::milliseconds(40);
    a_.setDefault(slow);
    std::map<std::string, int> served;
    for (int i = 0; i < 40; ++i)
        served[servedBy(chat())]++;
    // Both get sampled, then the 40 ms node loses: within tolerance, not an exact count.
    EXPECT_GE(served["b"], 30) << "a=" << served["a"] << " b=" << served["b"];
    EXPECT_GE(served["a"], 1);
}

TEST_F(BalancingTest, FailingNodeIsEjectedThenComesBackThroughItsHalfOpenTrial) {
    ASSERT_TRUE(start(header(1) + "upstreams:\n  - id: pool\n    nodes: {\"" + a_.address() +
                      "\": 1, \"" + b_.address() + "\": 1}\n" +
                      "    checks:\n      passive:\n        cooldown: 1\n"
                      "        unhealthy: {http_statuses: [500], http_failures: 2}\n" +
                      route(aiProxy("pool", 1))));
    a_.setDefault(Reply::json(500, R"({"error":{"message":"a is broken"}})"));
    // Every request still succeeds (a's 500 moves on to b) until a is ejected after 2 failures.
    for (int i = 0; i < 6; ++i) {
        auto response = chat();
        EXPECT_EQ(response.status, 200) << response.body;
        EXPECT_EQ(servedBy(response), "b");
    }
    EXPECT_EQ(a_.requestCount(), 2U);

    auto report = health("upstreams/pool");
    ASSERT_EQ(report["nodes"].size(), 2U) << report.dump();
    const auto& node = report["nodes"][0];
    EXPECT_EQ(node["address"], a_.address());
    EXPECT_EQ(node["state"], "ejected") << report.dump();
    EXPECT_TRUE(node["ejected_until"].is_string()) << report.dump();
    EXPECT_EQ(node["ejections"], 1);
    EXPECT_NE(node["last_error"].get<std::string>().find("500"), std::string::npos)
        << report.dump();
    EXPECT_EQ(report["nodes"][1]["state"], "healthy");

    // a recovers; once the cooldown is over, the next request is a's single trial.
    a_.setDefault(Reply::json(200, a_.defaultBody()));
    ASSERT_TRUE(waitForState("upstreams/pool", 0, "half_open")) << health("upstreams/pool").dump();
    EXPECT_EQ(servedBy(chat()), "a");
    EXPECT_EQ(health("upstreams/pool")["nodes"][0]["state"], "healthy");
    std::map<std::string, int> served;
    for (int i = 0; i < 6; ++i)
        served[servedBy(chat())]++;
    EXPECT_EQ(served["a"], 3);
    EXPECT_EQ(served["b"], 3);
}

TEST_F(BalancingTest, NodeHealthIsExportedAsMetrics) {
    std::string config = header(1) + "upstreams:\n  - id: pool\n    nodes: {\"" + a_.address() +
                         "\": 1, \"" + b_.address() + "\": 1}\n" +
                         "    checks:\n      passive:\n        cooldown: 60\n"
                         "        unhealthy: {http_statuses: [500], http_failures: 1}\n" +
                         route(aiProxy("pool", 1));
    config.replace(config.find("status:\n  enabled: false\n"), 25,
                   "status:\n  listen: \"127.0.0.1:0\"\n");
    ASSERT_TRUE(start(config));
    auto status_port = parsePortAfter(daemon_.stderrText(), "status endpoint on ");
    ASSERT_TRUE(status_port);
    auto scrape = [&] { return sendRequest(*status_port, {.target = "/metrics"}).body; };
    auto series = [&](const std::string& name, const MockBackend& node) {
        return name + "{upstream=\"pool\",node=\"" + node.address() + "\"} ";
    };
    auto before = scrape();
    EXPECT_NE(before.find(series("aiproxy_upstream_node_healthy", a_) + "1"), std::string::npos)
        << before;
    EXPECT_NE(before.find(series("aiproxy_upstream_node_ejections_total", a_) + "0"),
              std::string::npos);

    a_.enqueue(Reply::json(500, R"({"error":{"message":"broken"}})"));
    EXPECT_EQ(servedBy(chat()), "b");
    auto after = scrape();
    EXPECT_NE(after.find(series("aiproxy_upstream_node_healthy", a_) + "0"), std::string::npos)
        << after;
    EXPECT_NE(after.find(series("aiproxy_upstream_node_ejections_total", a_) + "1"),
              std::string::npos);
    EXPECT_NE(after.find(series("aiproxy_upstream_node_healthy", b_) + "1"), std::string::npos);
}

TEST_F(BalancingTest, ActiveProbesTakeANodeOutAndBringItBackWithTheUpstreamAuth) {
    ASSERT_TRUE(start(header() + "upstreams:\n  - id: pool\n    nodes: {\"" + a_.address() +
                      "\": 1, \"" + b_.address() + "\": 1}\n" +
                      "    auth: {header: {Authorization: \"Bearer sk-probe-secret\"}}\n"
                      "    checks:\n      active:\n        http_path: /v1/models\n"
                      "        timeout: 1\n"
                      "        healthy: {interval: 0.05, successes: 1}\n"
                      "        unhealthy: {interval: 0.05, http_failures: 1, tcp_failures: 1}\n" +
                      route(aiProxy("pool", 0))));
    a_.setDefault(Reply::json(503, R"({"error":{"message":"a is down"}})"));
    ASSERT_TRUE(waitForState("upstreams/pool", 0, "unhealthy")) << health("upstreams/pool").dump();
    auto before = a_.requestCount();
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(servedBy(chat()), "b");
    // Only probes reached a meanwhile, never a chat request.
    auto requests = a_.requests();
    for (std::size_t i = before; i < requests.size(); ++i)
        EXPECT_EQ(requests[i].target, "/v1/models");

    a_.setDefault(Reply::json(200, a_.defaultBody()));
    ASSERT_TRUE(waitForState("upstreams/pool", 0, "healthy")) << health("upstreams/pool").dump();
    std::set<std::string> served;
    for (int i = 0; i < 4; ++i)
        served.insert(servedBy(chat()));
    EXPECT_TRUE(served.contains("a"));

    bool probed = false;
    for (const auto& request : a_.requests()) {
        if (request.target != "/v1/models") continue;
        probed = true;
        EXPECT_EQ(request.method, "GET");
        EXPECT_EQ(request.headers.get("Authorization"), "Bearer sk-probe-secret");
    }
    EXPECT_TRUE(probed);
    EXPECT_EQ(daemon_.stderrText().find("sk-probe-secret"), std::string::npos);
}

TEST_F(BalancingTest, RetryAfterTakesTheNodeOutForAboutThatLong) {
    ASSERT_TRUE(start(header() + "upstreams:\n  - id: pool\n    nodes: {\"" + a_.address() +
                      "\": 1, \"" + b_.address() + "\": 1}\n" + route(aiProxy("pool", 1))));
    Reply limited = Reply::json(429, R"({"error":{"message":"slow down"}})");
    limited.headers.add("Retry-After", "2");
    a_.enqueue(limited);
    auto asked = Clock::now();
    auto first = chat();
    EXPECT_EQ(servedBy(first), "b") << first.body;
    EXPECT_EQ(a_.requestCount(), 1U);

    auto report = health("upstreams/pool");
    EXPECT_EQ(report["nodes"][0]["state"], "ejected") << report.dump();
    auto remaining = report["nodes"][0]["ejection_remaining_ms"].get<int>();
    EXPECT_GT(remaining, 1000) << report.dump();
    EXPECT_LE(remaining, 2000) << report.dump();
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(servedBy(chat()), "b");
    EXPECT_EQ(a_.requestCount(), 1U);

    ASSERT_TRUE(waitForState("upstreams/pool", 0, "half_open"));
    auto out_for = Clock::now() - asked;
    EXPECT_GE(out_for, std::chrono::milliseconds(1900));
    EXPECT_LT(out_for, std::chrono::milliseconds(4000));
    EXPECT_EQ(servedBy(chat()), "a");
}

TEST_F(BalancingTest, EjectedPrimaryIsSkippedAndTheFallbackAnswersAtOnce) {
    RefusingPort refusing;
    ASSERT_TRUE(start(header() + "upstreams:\n  - id: primary\n    nodes: {\"" +
                      refusing.address() + "\": 1}\n  - id: fallback\n    nodes: {\"" +
                      b_.address() + "\": 1}\n" + route(aiProxy("primary", 1, "fallback"))));
    // tcp_failures defaults to 2: two requests pay for the refused connect, later ones do not.
    for (int i = 0; i < 2; ++i) {
        auto response = chat();
        EXPECT_EQ(servedBy(response), "b");
        EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "2");
    }
    for (int i = 0; i < 5; ++i) {
        auto response = chat();
        EXPECT_EQ(servedBy(response), "b");
        EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
        EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "fallback");
    }
}

TEST_F(BalancingTest, EveryNodeEjectedFailsOpenAndSaysSoOnce) {
    ASSERT_TRUE(start(header() + "upstreams:\n  - id: pool\n    nodes: {\"" + a_.address() +
                      "\": 1}\n    checks:\n      passive:\n        cooldown: 60\n"
                      "        unhealthy: {http_statuses: [500], http_failures: 1}\n" +
                      route(aiProxy("pool", 0))));
    a_.setDefault(Reply::json(500, R"({"error":{"message":"broken"}})"));
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(chat().status, 500);
    // Ejected after the first, yet still used: nothing else is left.
    EXPECT_EQ(a_.requestCount(), 4U);
    // Workers log asynchronously: wait for the line, then check it came once.
    EXPECT_TRUE(daemon_.waitForStderr("every node is ejected or unhealthy"));
    auto log = daemon_.stderrText();
    auto first = log.find("every node is ejected or unhealthy");
    ASSERT_NE(first, std::string::npos) << log;
    EXPECT_EQ(log.find("every node is ejected or unhealthy", first + 1), std::string::npos);
    EXPECT_TRUE(health("upstreams/pool")["failing_open"].get<bool>());
}

// --- ai-proxy-multi -------------------------------------------------------------------------

std::string instance(const std::string& name, const MockBackend& backend, int priority = 0,
                     const std::string& extra = "") {
    return "          - name: " + name + "\n            provider: openai-compatible\n" +
           "            weight: 1\n            priority: " + std::to_string(priority) + "\n" +
           "            override: {endpoint: \"http://" + backend.address() + "\"}\n" + extra;
}

std::string multi(const std::string& instances, const std::string& settings) {
    return route("      ai-proxy-multi:\n        timeout: 5000\n" + settings +
                 "        instances:\n" + instances);
}

TEST_F(BalancingTest, MultiRateLimitedInstanceFallsToTheNextWithHttp429) {
    ASSERT_TRUE(start(header() + multi(instance("first", a_, 1) + instance("second", b_, 0),
                                       "        fallback_strategy: http_429\n")));
    a_.enqueue(Reply::json(429, R"({"error":{"message":"quota"}})"));
    auto response = chat();
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(servedBy(response), "b");
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "second");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "2");
    // A 5xx is not in the strategy: returned as it is.
    a_.enqueue(Reply::json(503, R"({"error":{"message":"down"}})"));
    EXPECT_EQ(chat().status, 503);
}

TEST_F(BalancingTest, MultiServerErrorFallsToTheNextWithHttp5xx) {
    ASSERT_TRUE(start(header() + multi(instance("first", a_, 1) + instance("second", b_, 0),
                                       "        fallback_strategy: [http_5xx]\n")));
    a_.enqueue(Reply::json(502, R"({"error":{"message":"bad gateway"}})"));
    auto response = chat();
    EXPECT_EQ(servedBy(response), "b") << response.body;
    a_.enqueue(Reply::json(429, R"({"error":{"message":"quota"}})"));
    EXPECT_EQ(chat().status, 429);
}

TEST_F(BalancingTest, MultiPrioritiesServeTheHighestGroupFirst) {
    ASSERT_TRUE(
        start(header(1) +
              multi(instance("low", a_, 0) + instance("high", b_, 5) + instance("high2", c_, 5),
                    "        fallback_strategy: [instance_health_and_rate_limiting,"
                    " http_5xx]\n")));
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(chat().status, 200);
    EXPECT_EQ(a_.requestCount(), 0U);
    EXPECT_EQ(b_.requestCount(), 3U);
    EXPECT_EQ(c_.requestCount(), 3U);
    // Failures of the high group move on within it first, then to the low group.
    b_.enqueue(Reply::json(503, R"({"error":{"message":"b is down"}})"));
    c_.enqueue(Reply::json(503, R"({"error":{"message":"c is down"}})"));
    auto response = chat();
    EXPECT_EQ(servedBy(response), "a") << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "3");
}

TEST_F(BalancingTest, MultiEveryInstanceFailingGives502) {
    RefusingPort one;
    RefusingPort two;
    std::string instances =
        "          - {name: one, provider: openai-compatible, weight: 1,"
        " override: {endpoint: \"http://" +
        one.address() +
        "\"}}\n"
        "          - {name: two, provider: openai-compatible, weight: 1,"
        " override: {endpoint: \"http://" +
        two.address() + "\"}}\n";
    ASSERT_TRUE(start(header() + multi(instances, "        fallback_strategy: http_5xx\n")));
    auto response = chat();
    EXPECT_EQ(response.status, 502) << response.body;
    auto body = Json::parse(response.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "2");
}

TEST_F(BalancingTest, MultiMaxRetriesCapsAttemptsAndReturnsTheLastAnswer) {
    ASSERT_TRUE(start(
        header() + multi(instance("one", a_, 2) + instance("two", b_, 1) + instance("three", c_, 0),
                         "        fallback_strategy: http_5xx\n"
                         "        max_retries: 1\n")));
    a_.enqueue(Reply::json(503, R"({"error":{"message":"one is down"}})"));
    b_.enqueue(Reply::json(500, R"({"error":{"message":"two is down"}})"));
    auto response = chat();
    EXPECT_EQ(response.status, 500);
    EXPECT_EQ(response.body, R"({"error":{"message":"two is down"}})");
    EXPECT_EQ(c_.requestCount(), 0U);
}

TEST_F(BalancingTest, MultiSingleInstanceNeverRetries) {
    ASSERT_TRUE(
        start(header() + multi(instance("only", a_), "        fallback_strategy: http_5xx\n")));
    a_.enqueue(Reply::json(503, R"({"error":{"message":"busy"}})"));
    auto response = chat();
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(a_.requestCount(), 1U);
}

TEST_F(BalancingTest, MultiWithoutFallbackStrategyDoesNotMoveOn) {
    ASSERT_TRUE(start(header() + multi(instance("first", a_, 1) + instance("second", b_, 0), "")));
    a_.enqueue(Reply::reset());
    auto response = chat();
    EXPECT_EQ(response.status, 502) << response.body;
    EXPECT_EQ(b_.requestCount(), 0U);
}

TEST_F(BalancingTest, MultiOptionsOfOneInstanceNeverLeakIntoTheNext) {
    ASSERT_TRUE(start(
        header() +
        multi(instance("first", a_, 1,
                       "            options: {model: m-first, temperature: 0.1}\n"
                       "            auth: {header: {Authorization: \"Bearer sk-first\"}}\n") +
                  instance("second", b_, 0,
                           "            options: {model: m-second}\n"
                           "            auth: {header: {Authorization: \"Bearer sk-second\"}}\n"),
              "        fallback_strategy: [http_429, http_5xx]\n")));
    a_.enqueue(Reply::json(429, R"({"error":{"message":"quota"}})"));
    auto response = chat("", R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(servedBy(response), "b") << response.body;

    auto first = Json::parse(a_.requests().at(0).body);
    EXPECT_EQ(first["model"], "m-first");
    EXPECT_EQ(first["temperature"], 0.1);
    EXPECT_EQ(a_.requests().at(0).headers.get("Authorization"), "Bearer sk-first");
    auto second = Json::parse(b_.requests().at(0).body);
    EXPECT_EQ(second["model"], "m-second");
    EXPECT_FALSE(second.contains("temperature")) << second.dump();
    EXPECT_EQ(second["messages"][0]["content"], "hi");
    EXPECT_EQ(b_.requests().at(0).headers.get("Authorization"), "Bearer sk-second");
}

TEST_F(BalancingTest, MultiRouteHealthListsTheInstancesByName) {
    ASSERT_TRUE(
        start(header() + multi(instance("first", a_, 1) + instance("second", b_, 0),
                               "        fallback_strategy: instance_health_and_rate_limiting\n")));
    Reply limited = Reply::json(429, R"({"error":{"message":"quota"}})");
    limited.headers.add("Retry-After", "30");
    a_.enqueue(limited);
    EXPECT_EQ(chat().status, 429);  // 429 is not in the strategy, but the instance is ejected
    auto report = health("routes/chat");
    ASSERT_EQ(report["nodes"].size(), 2U) << report.dump();
    EXPECT_EQ(report["nodes"][0]["name"], "first");
    EXPECT_EQ(report["nodes"][0]["state"], "ejected");
    EXPECT_EQ(report["nodes"][1]["name"], "second");
    // Ejected by its own Retry-After: the next request goes to the lower priority at once.
    auto response = chat();
    EXPECT_EQ(servedBy(response), "b");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
}

TEST_F(BalancingTest, MultiRouteWrittenThroughTheAdminApiServesAndHidesItsKeys) {
    ASSERT_TRUE(start(header()));
    Request put{.method = "PUT", .target = "/apisix/admin/routes/multi"};
    put.headers.add("X-API-KEY", kAdminKey);
    put.headers.add("Content-Type", "application/json");
    put.body = R"({"uri": "/llm/*", "plugins": {"ai-proxy-multi": {
        "fallback_strategy": ["http_5xx"],
        "instances": [
          {"name": "first", "provider": "openai-compatible", "weight": 1, "priority": 1,
           "auth": {"header": {"Authorization": "Bearer sk-admin-secret"}},
           "override": {"endpoint": "http://)" +
               a_.address() + R"("}},
          {"name": "second", "provider": "openai-compatible", "weight": 1,
           "override": {"endpoint": "http://)" +
               b_.address() + R"("}}]}}})";
    auto created = sendRequest(admin_port_, put);
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(created.body.find("sk-admin-secret"), std::string::npos) << created.body;

    a_.enqueue(Reply::json(500, R"({"error":{"message":"down"}})"));
    auto response = chat();
    EXPECT_EQ(servedBy(response), "b") << response.body;
    EXPECT_EQ(a_.requests().at(0).headers.get("Authorization"), "Bearer sk-admin-secret");
    EXPECT_EQ(servedBy(chat()), "a");

    Request get{.method = "GET", .target = "/apisix/admin/routes/multi"};
    get.headers.add("X-API-KEY", kAdminKey);
    auto shown = sendRequest(admin_port_, get);
    EXPECT_EQ(shown.status, 200);
    EXPECT_EQ(shown.body.find("sk-admin-secret"), std::string::npos) << shown.body;
    EXPECT_NE(shown.body.find("***"), std::string::npos) << shown.body;
}

}  // namespace
}  // namespace aiproxy::test
