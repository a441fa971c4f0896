// Traffic limits through the real binary: limit-count with its X-RateLimit-* headers, one count
// shared exactly by four workers, token and cost budgets (ai-rate-limiting) spent per route or
// per key-auth consumer, limit-req's delay, and max_concurrent's bounded queue.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/backend_config.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/limits_fixture.hpp"
#include "support/llm_replies.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAliceKey = "sk-gw-alice-limits-0123456789";
constexpr const char* kBobKey = "sk-gw-bob-limits-9876543210";
constexpr const char* kAdminKey = "limits-test-admin-key-0123456789";

class LimitsTest : public LimitsFixture {
protected:
    LimitsTest() : LimitsFixture(kAdminKey) {}

    // One route /llm/* over the backend with `plugins` (YAML flow entries) next to ai-proxy and
    // `route_keys` (YAML lines at route level, 4 spaces in).
    std::string config(const std::string& plugins, const std::string& route_keys = "",
                       int workers = 1, const std::string& extra = "") const {
        return BackendConfig{.backend = backend_.address(),
                             .admin_key = kAdminKey,
                             .workers = workers,
                             .consumers = {{"alice", kAliceKey}, {"bob", kBobKey}},
                             .routes = backendRoute("chat", "/llm/*", plugins, route_keys),
                             .extra = extra}
            .yaml();
    }
};

TEST_F(LimitsTest, LimitCountRefusesTheFourthRequestWithQuotaHeaders) {
    ASSERT_TRUE(
        startWithStatusAndAdmin(config("      limit-count: {count: 3, time_window: 3600}\n")));
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(chat().status, 200) << i;
    Response refused = chat();
    expectRateLimited(refused, 503);
    EXPECT_EQ(refused.headers.get("X-RateLimit-Limit"), "3");
    EXPECT_EQ(refused.headers.get("X-RateLimit-Remaining"), "0");
    int reset = std::stoi(refused.headers.get("X-RateLimit-Reset").value_or("0"));
    EXPECT_GE(reset, 1);
    EXPECT_LE(reset, 3600);
    EXPECT_EQ(refused.headers.get("Retry-After"), refused.headers.get("X-RateLimit-Reset"));
    EXPECT_TRUE(refused.headers.has("X-Request-Id"));
    EXPECT_EQ(backend_.requestCount(), 3U);
    EXPECT_EQ(metric(R"(aiproxy_rate_limited_total{route="chat",plugin="limit-count"})"), 1);
    // The access log shows the refusal by its status.
    EXPECT_TRUE(daemon_.waitForStderr("\"status\":503"));
}

TEST_F(LimitsTest, SuccessfulAnswersCarryTheQuotaLeft) {
    ASSERT_TRUE(startWithStatusAndAdmin(
        config("      limit-count: {count: 3, time_window: 3600}\n"
               "      ai-rate-limiting: {limit: 1000, time_window: 3600}\n")));
    backend_.setDefault(Reply::json(200, openAiCompletion("ok", 60, 40)));
    for (int i = 0; i < 3; ++i) {
        Response response = chat();
        ASSERT_EQ(response.status, 200) << i << response.body;
        EXPECT_EQ(response.headers.get("X-RateLimit-Limit"), "3") << i;
        EXPECT_EQ(response.headers.get("X-RateLimit-Remaining"), std::to_string(2 - i)) << i;
        int reset = std::stoi(response.headers.get("X-RateLimit-Reset").value_or("0"));
        EXPECT_GE(reset, 1) << i;
        EXPECT_LE(reset, 3600) << i;
        // The token budget as it stood before this request: 100 tokens spent per answer.
        EXPECT_EQ(response.headers.get("X-AI-RateLimit-Limit"), "1000") << i;
        EXPECT_EQ(response.headers.get("X-AI-RateLimit-Remaining"), std::to_string(1000 - 100 * i))
            << i;
        EXPECT_TRUE(response.headers.has("X-AI-RateLimit-Reset")) << i;
        EXPECT_FALSE(response.headers.has("Retry-After")) << i;
        // The usage is booked before the access-log line is written: wait for it, so the next
        // request sees this one's tokens spent.
        ASSERT_TRUE(accessLogged(response)) << i;
    }
}

TEST_F(LimitsTest, TheGatewaysQuotaHeadersReplaceAnUpstreamsOfTheSameName) {
    ASSERT_TRUE(
        startWithStatusAndAdmin(config("      limit-count: {count: 5, time_window: 3600}\n")));
    Reply reply = Reply::json(200, openAiCompletion("ok", 1, 1));
    reply.headers = {{"X-RateLimit-Limit", "999"}, {"x-ratelimit-remaining-requests", "42"}};
    backend_.setDefault(reply);
    Response response = chat();
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.headers.get("X-RateLimit-Limit"), "5");
    auto fields = response.headers.fields();
    EXPECT_EQ(std::count_if(fields.begin(), fields.end(),
                            [](const auto& field) {
                                return equalsIgnoreCase(field.first, "X-RateLimit-Limit");
                            }),
              1);
    // The provider's own quota headers (other names) pass through.
    EXPECT_EQ(response.headers.get("x-ratelimit-remaining-requests"), "42");
}

TEST_F(LimitsTest, RefusalsCountAsRequestsAnsweredWithoutAnUpstream) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        "      key-auth: {}\n" + dailyLimit("limit-count", "count: 1, key: consumer_name"))));
    EXPECT_EQ(chat().status, 401);
    EXPECT_EQ(chat(kAliceKey).status, 200);
    EXPECT_EQ(chat(kAliceKey).status, 503);

    EXPECT_EQ(metric(R"(aiproxy_http_requests_total{route="chat",upstream="",status_class="4xx"})"),
              1);
    EXPECT_EQ(metric(R"(aiproxy_http_requests_total{route="chat",upstream="",status_class="5xx"})"),
              1);
    EXPECT_EQ(metric(R"(aiproxy_key_auth_rejected_total{route="chat"})"), 1);
    EXPECT_EQ(metric(R"(aiproxy_rate_limited_total{route="chat",plugin="limit-count"})"), 1);
    EXPECT_EQ(backend_.requestCount(), 1U);
}

TEST_F(LimitsTest, TheRejectedCodeAndMessageAreConfigurable) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        dailyLimit("limit-count", "count: 1, rejected_code: 429, rejected_msg: \"slow down\""))));
    ASSERT_EQ(chat().status, 200);
    Response refused = chat();
    expectRateLimited(refused, 429);
    EXPECT_EQ(Json::parse(refused.body)["error"]["message"], "slow down");
}

TEST_F(LimitsTest, FourWorkersShareOneCountExactly) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(dailyLimit("limit-count", "count: 10"), "", 4)));
    // 40 requests on 40 connections from 4 threads: SO_REUSEPORT spreads them over the workers.
    std::vector<std::future<std::vector<int>>> senders;
    for (int t = 0; t < 4; ++t) {
        senders.push_back(std::async(std::launch::async, [this] {
            std::vector<int> statuses;
            for (int i = 0; i < 10; ++i)
                statuses.push_back(chat().status);
            return statuses;
        }));
    }
    int ok = 0;
    int refused = 0;
    for (auto& sender : senders) {
        for (int status : sender.get()) {
            ok += status == 200;
            refused += status == 503;
        }
    }
    EXPECT_EQ(ok, 10);
    EXPECT_EQ(refused, 30);
    EXPECT_EQ(backend_.requestCount(), 10U);
}

TEST_F(LimitsTest, TokenBudgetIsSpentAfterTheResponseAndThenRefuses) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(dailyLimit("ai-rate-limiting", "limit: 100"))));
    backend_.setDefault(Reply::json(200, openAiCompletion("ok", 60, 30)));
    Response first = chat();
    ASSERT_EQ(first.status, 200) << first.body;
    // 90 of 100 used: still below the budget, so the next request goes (and overshoots it).
    ASSERT_EQ(chat().status, 200);
    Response refused = chat();
    expectRateLimited(refused, 429, "tokens");
    EXPECT_EQ(refused.headers.get("X-AI-RateLimit-Limit"), "100");
    EXPECT_EQ(refused.headers.get("X-AI-RateLimit-Remaining"), "0");
    EXPECT_TRUE(refused.headers.has("X-AI-RateLimit-Reset"));
    EXPECT_EQ(refused.headers.get("Retry-After"), refused.headers.get("X-AI-RateLimit-Reset"));
    EXPECT_EQ(backend_.requestCount(), 2U);
    EXPECT_EQ(metric(R"(aiproxy_rate_limited_total{route="chat",plugin="ai-rate-limiting"})"), 1);
}

TEST_F(LimitsTest, BudgetsPerConsumerAreSpentApart) {
    ASSERT_TRUE(startWithStatusAndAdmin(config(
        "      key-auth: {}\n" + dailyLimit("ai-rate-limiting", "limit: 50, key: consumer_name"))));
    backend_.setDefault(Reply::json(200, openAiCompletion("ok", 40, 20)));
    ASSERT_EQ(chat(kAliceKey).status, 200);
    expectRateLimited(chat(kAliceKey), 429, "tokens");
    // Bob has his own budget, sent the way OpenAI SDKs send keys.
    Request bob = chatRequest("/llm/chat/completions");
    bob.headers.add("Authorization", std::string("Bearer ") + kBobKey);
    EXPECT_EQ(sendRequest(daemon_.port(), bob).status, 200);
    EXPECT_EQ(backend_.requestCount(), 2U);
}

TEST_F(LimitsTest, CostBudgetUsesThePriceTable) {
    // 60 prompt + 30 completion tokens at $1000 / $2000 per million: $0.12 a request.
    ASSERT_TRUE(startWithStatusAndAdmin(
        config(dailyLimit("ai-rate-limiting", "limit: 0.2, limit_strategy: cost"), "", 1,
               "pricing:\n  gpt-4o-mini: {input_per_mtok: 1000, output_per_mtok: 2000}\n")));
    backend_.setDefault(Reply::json(200, openAiCompletion("ok", 60, 30)));
    ASSERT_EQ(chat().status, 200);
    ASSERT_EQ(chat().status, 200);
    Response refused = chat();
    expectRateLimited(refused, 429, "tokens");
    EXPECT_EQ(refused.headers.get("X-AI-RateLimit-Limit"), "0.2");
}

TEST_F(LimitsTest, LimitReqRefusesBeyondTheBurst) {
    // One request per 100 s with no burst: the second at once is refused, whoever sends it.
    ASSERT_TRUE(startWithStatusAndAdmin(
        config("      limit-req: {rate: 0.01, burst: 0, rejected_code: 429}\n")));
    ASSERT_EQ(chat().status, 200);
    Response refused = chat();
    expectRateLimited(refused, 429);
    EXPECT_GE(std::stoi(refused.headers.get("Retry-After").value_or("0")), 99);
    EXPECT_EQ(backend_.requestCount(), 1U);
}

TEST_F(LimitsTest, LimitReqDelaysARequestWithinTheBurst) {
    // 2 per second with a burst of 1: the second request at once waits out the rest of its
    // 500 ms slot, then goes.
    ASSERT_TRUE(startWithStatusAndAdmin(config("      limit-req: {rate: 2, burst: 1}\n")));
    ASSERT_EQ(chat().status, 200);
    auto before = std::chrono::steady_clock::now();
    ASSERT_EQ(chat().status, 200);
    // Only a lower bound (the delay the plugin promises, less what the first request's own
    // answer took); never an upper one.
    EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(250));
    EXPECT_EQ(backend_.requestCount(), 2U);
}

TEST_F(LimitsTest, MaxConcurrentQueuesOneAndRefusesTheNext) {
    ASSERT_TRUE(startWithStatusAndAdmin(
        config("", "    max_concurrent: {limit: 1, queue: 1, queue_timeout: 30}\n")));
    auto gate = std::make_shared<Gate>();
    backend_.enqueue(Reply::gatedSse({"{\"n\":1}", "{\"n\":2}"}, gate));

    // The first request holds the only slot: its stream has begun and waits on the gate.
    StreamingClient first{daemon_.port()};
    ASSERT_TRUE(first.send(chatRequest("/llm/chat/completions", true)));
    gate->release();
    ASSERT_TRUE(first.readHeader()) << first.error();
    ASSERT_EQ(first.status(), 200);
    ASSERT_TRUE(first.nextEvent());

    // Two more: one waits in the queue, the other finds it full. Which is which depends on
    // which the gateway reads first, so both are read at once and the first answer is checked.
    struct Outcome {
        std::mutex mutex;
        std::condition_variable changed;
        std::vector<Response> answers;
    } outcome;
    auto send = [&] {
        Response response = chat();
        std::lock_guard lock{outcome.mutex};
        outcome.answers.push_back(std::move(response));
        outcome.changed.notify_all();
    };
    std::thread second{send};
    std::thread third{send};
    {
        std::unique_lock lock{outcome.mutex};
        ASSERT_TRUE(
            outcome.changed.wait_for(lock, kWaitTimeout, [&] { return !outcome.answers.empty(); }));
        const Response& full = outcome.answers.front();
        EXPECT_EQ(full.status, 503) << full.body << full.error;
        EXPECT_EQ(full.headers.get("Retry-After"), "1");
        auto body = Json::parse(full.body, nullptr, false);
        EXPECT_EQ(body["error"]["code"], "too_many_concurrent_requests") << full.body;
    }
    EXPECT_EQ(backend_.requestCount(), 1U);  // the queued one has not gone yet

    // The first finishes; the queued one gets its slot and is served.
    gate->releaseAll();
    EXPECT_EQ(first.readToEnd(), StreamingClient::State::Complete);
    second.join();
    third.join();
    ASSERT_EQ(outcome.answers.size(), 2U);
    EXPECT_EQ(outcome.answers.back().status, 200) << outcome.answers.back().body;
    EXPECT_EQ(backend_.requestCount(), 2U);
    EXPECT_EQ(metric(R"(aiproxy_rate_limited_total{route="chat",plugin="max_concurrent"})"), 1);
}

TEST_F(LimitsTest, AQueuedRequestGivesUpAfterTheQueueTimeout) {
    ASSERT_TRUE(startWithStatusAndAdmin(
        config("", "    max_concurrent: {limit: 1, queue: 1, queue_timeout: 0.2}\n")));
    auto gate = std::make_shared<Gate>();
    backend_.enqueue(Reply::gatedSse({"{\"n\":1}"}, gate));
    StreamingClient first{daemon_.port()};
    ASSERT_TRUE(first.send(chatRequest("/llm/chat/completions", true)));
    gate->release();
    ASSERT_TRUE(first.readHeader()) << first.error();

    Response waited = chat();
    EXPECT_EQ(waited.status, 503) << waited.body << waited.error;
    EXPECT_EQ(waited.headers.get("Retry-After"), "1");
    EXPECT_EQ(backend_.requestCount(), 1U);
    gate->releaseAll();
    EXPECT_EQ(first.readToEnd(), StreamingClient::State::Complete);
    // The slot is free again.
    EXPECT_EQ(chat().status, 200);
}

TEST_F(LimitsTest, CountsSurviveAReloadThatKeepsTheWindow) {
    std::string plugin = dailyLimit("limit-count", "count: 2");
    ASSERT_TRUE(startWithStatusAndAdmin(config(plugin)));
    ASSERT_EQ(chat().status, 200);
    ASSERT_EQ(chat().status, 200);
    // Raising the count keeps what was used: one more, not three more.
    std::string raised = dailyLimit("limit-count", "count: 3");
    daemon_.writeConfig(config(raised));
    auto from = daemon_.stderrText().size();
    ASSERT_TRUE(daemon_.signal(SIGHUP));
    ASSERT_TRUE(daemon_.waitForStderr("reload done", kWaitTimeout, from));
    EXPECT_EQ(chat().status, 200);
    EXPECT_EQ(chat().status, 503);
}

TEST_F(LimitsTest, LimitsWrittenThroughTheAdminApiApplyAtOnce) {
    ASSERT_TRUE(startWithStatusAndAdmin(config("")));
    ASSERT_EQ(chat().status, 200);
    // An exact uri wins over the file's /llm/* route.
    auto written = admin("PUT", "routes/admin_chat",
                         R"({"uri": "/llm/chat/completions",
                             "plugins": {"ai-proxy": {"upstream_id": "backend", "retry": 0},
                             "limit-count": {"count": 1, "time_window": 86400,
                                             "rejected_code": 429}}})");
    ASSERT_LT(written.status, 300) << written.body;
    EXPECT_EQ(chat().status, 200);
    expectRateLimited(chat(), 429);
    // A plugin the schema refuses is refused by the Admin API too.
    auto refused = admin("PUT", "routes/bad",
                         R"({"uri": "/bad", "plugins": {"ai-proxy": {"upstream_id": "backend"},
                             "limit-count": {"count": 0, "time_window": 60}}})");
    EXPECT_EQ(refused.status, 400) << refused.body;
    EXPECT_NE(refused.body.find("limit-count.count"), std::string::npos) << refused.body;
}

}  // namespace
}  // namespace aiproxy::test
