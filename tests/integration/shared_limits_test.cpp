// Limits shared by several aiproxyd nodes through a real redis-server (policy: redis): one count
// over three nodes, Redis killed with and without allow_degradation and coming back without a
// restart, limit-req's bucket shared by two nodes, and token budgets that hold when twenty
// requests arrive at once (reservations), on one node and over three.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/backend_config.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/limits_fixture.hpp"
#include "support/mock_backend.hpp"
#include "support/redis_server.hpp"

namespace aiproxy::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kAdminKey = "shared-limits-admin-key-0123456789";

class SharedLimitsTest : public LimitsFixture {
protected:
    SharedLimitsTest() : LimitsFixture(kAdminKey) {}

    void SetUp() override {
        if (!RedisServer::binary()) {
            GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server, or "
                            "make deps): the shared-limit tests need a real Redis";
        }
        ASSERT_TRUE(redis_.start()) << redis_.output();
    }

    // The redis policy fields for this test's Redis (YAML flow entries).
    std::string redis(bool allow_degradation = false) const {
        return "policy: redis, redis_host: 127.0.0.1, redis_port: " +
               std::to_string(redis_.port()) +
               ", redis_timeout: 500, allow_degradation: " + (allow_degradation ? "true" : "false");
    }

    std::string config(const std::string& plugins, int workers = 2) const {
        return BackendConfig{.backend = backend_.address(),
                             .admin_key = kAdminKey,
                             .workers = workers,
                             .routes = backendRoute("chat", "/llm/*", plugins)}
            .yaml();
    }

    // Node 0 is the fixture's daemon (its log is printed on failure); the others start here.
    ::testing::AssertionResult startNodes(const std::string& yaml, int count) {
        if (auto started = startDaemon(yaml); !started) return started;
        ports_ = {daemon_.port()};
        for (int i = 1; i < count; ++i) {
            auto node = std::make_unique<Daemon>();
            if (!node->start(yaml)) return ::testing::AssertionFailure() << "node " << i;
            ports_.push_back(node->port());
            nodes_.push_back(std::move(node));
        }
        return ::testing::AssertionSuccess();
    }

    Response chatOn(std::size_t node, const Request& request = chatRequest()) const {
        return sendRequest(ports_.at(node % ports_.size()), request);
    }

    // Polls (the gateway reconnects after a backoff of at most 1 s) until a request on node 0
    // gets `status`; the request that did is returned.
    Response pollUntil(int status, std::chrono::milliseconds timeout = 10s) const {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        Response response = chatOn(0);
        while (response.status != status && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
            response = chatOn(0);
        }
        return response;
    }

    RedisServer redis_;
    std::vector<std::unique_ptr<Daemon>> nodes_;
    std::vector<uint16_t> ports_;
};

// Waits out the last seconds of a clock-aligned window, so a short window cannot roll over in
// the middle of a test.
void awayFromWindowEnd(std::chrono::seconds window) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    auto into = now % window;
    if (window - into < 10s) std::this_thread::sleep_for(window - into + 100ms);
}

void expectStoreUnavailable(const Response& response) {
    EXPECT_EQ(response.status, 503) << response.body << response.error;
    auto body = Json::parse(response.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << response.body;
    EXPECT_EQ(body["error"]["code"], "limit_store_unavailable");
    EXPECT_EQ(body["error"]["type"], "server_error");
    EXPECT_EQ(response.headers.get("Retry-After"), "1");
}

TEST_F(SharedLimitsTest, ACountOfTenPerMinuteOverThreeNodesAdmitsExactlyTen) {
    ASSERT_TRUE(startNodes(
        config("      limit-count: {count: 10, time_window: 60, " + redis() + "}\n"), 3));
    awayFromWindowEnd(60s);
    int admitted = 0;
    for (int i = 0; i < 30; ++i) {
        Response response = chatOn(i);
        if (response.status == 200) {
            ++admitted;
        } else {
            expectRateLimited(response, 503);
        }
    }
    EXPECT_EQ(admitted, 10);
    EXPECT_EQ(backend_.requests().size(), 10U);
}

TEST_F(SharedLimitsTest, RedisDownRefusesWith503UntilItIsBackWithoutDegradation) {
    // One worker: each worker reconnects on its own schedule, and the counts below assume the
    // requests after the first 200 find Redis reconnected.
    ASSERT_TRUE(startNodes(config(dailyLimit("limit-count", "count: 3, " + redis(false)), 1), 1));
    ASSERT_EQ(chatOn(0).status, 200);
    redis_.kill();
    expectStoreUnavailable(chatOn(0));
    expectStoreUnavailable(chatOn(0));  // during the backoff: at once
    EXPECT_EQ(backend_.requests().size(), 1U);
    // Back (empty: no persistence), and counting there again without a restart.
    ASSERT_TRUE(redis_.start()) << redis_.output();
    ASSERT_EQ(pollUntil(200).status, 200);
    EXPECT_EQ(chatOn(0).status, 200);
    EXPECT_EQ(chatOn(0).status, 200);
    expectRateLimited(chatOn(0), 503);
}

TEST_F(SharedLimitsTest, RedisDownWithDegradationAdmitsAndCountsLocally) {
    ASSERT_TRUE(startNodes(config(dailyLimit("limit-count", "count: 3, " + redis(true)), 1), 1));
    redis_.kill();
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(chatOn(0).status, 200) << i;
    expectRateLimited(chatOn(0), 503);  // the local count is used up
    // Redis is back, empty: a request admitted now was counted there, not locally.
    ASSERT_TRUE(redis_.start()) << redis_.output();
    ASSERT_EQ(pollUntil(200).status, 200);
    EXPECT_EQ(chatOn(0).status, 200);
    EXPECT_EQ(chatOn(0).status, 200);
    expectRateLimited(chatOn(0), 503);
}

TEST_F(SharedLimitsTest, LimitReqSharesOneBucketAcrossNodes) {
    // One request per 100 s: the second, on another node, finds the bucket full.
    ASSERT_TRUE(startNodes(
        config("      limit-req: {rate: 0.01, burst: 0, nodelay: true, " + redis() + "}\n"), 2));
    ASSERT_EQ(chatOn(0).status, 200);
    Response refused = chatOn(1);
    expectRateLimited(refused, 503);
    EXPECT_GE(std::stoi(refused.headers.get("Retry-After").value_or("0")), 90);
    expectRateLimited(chatOn(0), 503);
}

// Twenty requests at once against a budget that fits five: each reserves max_tokens (90) plus
// its prompt ("Hi": 1 token), and the admitted ones are held at the backend until all twenty
// have an answer or are there, so no request settles before the others are admitted.
class ConcurrentBudgetTest : public SharedLimitsTest, public ::testing::WithParamInterface<int> {
protected:
    void SetUp() override {
        if (GetParam() > 1) SharedLimitsTest::SetUp();
    }
};

TEST_P(ConcurrentBudgetTest, TwentyRequestsAgainstABudgetForFiveAdmitExactlyFive) {
    const int nodes = GetParam();
    std::string policy = nodes > 1 ? ", " + redis() : "";
    ASSERT_TRUE(
        startNodes(config(dailyLimit("ai-rate-limiting", "limit: 455" + policy), 2), nodes));
    auto gate = std::make_shared<Gate>();
    backend_.setDefault(Reply::gatedSse(
        {R"({"choices":[{"delta":{"content":"ok"}}]})",
         R"({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}})", "[DONE]"},
        gate));
    Request request = chatRequest();
    request.body =
        R"({"model":"gpt-4o-mini","max_tokens":90,"messages":[{"role":"user","content":"Hi"}]})";
    std::vector<std::future<Response>> answers;
    for (int i = 0; i < 20; ++i) {
        answers.push_back(
            std::async(std::launch::async, [this, i, &request] { return chatOn(i, request); }));
    }
    ASSERT_TRUE(backend_.waitForRequests(5));
    // The refusals come at once; the admitted requests wait on the gate meanwhile.
    auto deadline = std::chrono::steady_clock::now() + kWaitTimeout;
    for (;;) {
        int answered = 0;
        for (auto& answer : answers)
            answered += answer.wait_for(0s) == std::future_status::ready ? 1 : 0;
        if (answered >= 15 || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(backend_.requests().size(), 5U);
    gate->releaseAll();
    int admitted = 0;
    int refused = 0;
    for (auto& answer : answers) {
        Response response = answer.get();
        if (response.status == 200) {
            ++admitted;
        } else {
            expectRateLimited(response, 429, "tokens");
            ++refused;
        }
    }
    EXPECT_EQ(admitted, 5);
    EXPECT_EQ(refused, 15);
    EXPECT_EQ(backend_.requests().size(), 5U);
}

INSTANTIATE_TEST_SUITE_P(OneNodeLocallyAndThreeOverRedis, ConcurrentBudgetTest,
                         ::testing::Values(1, 3), [](const auto& param_info) {
                             return param_info.param == 1 ? std::string{"Local"}
                                                          : std::string{"ThreeNodesOverRedis"};
                         });

}  // namespace
}  // namespace aiproxy::test
