// ai-request-rewrite: the question its LLM gets, and what the stage does with each answer, with
// the LLM call replaced by a test double of the worker's services.

#include "aiproxy/plugins/request_rewrite.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiproxy/plugins/stages.hpp"
#include "stage_run_support.hpp"

namespace aiproxy::plugins {
namespace {

namespace net = boost::asio;
using Json = nlohmann::json;

TEST(RewriteQuestionTest, ThePromptIsTheSystemMessageAndTheBodyTheUserMessage) {
    EXPECT_EQ(Json::parse(rewriteQuestion("Mask card numbers.", R"({"card": "4111"})")),
              Json::parse(R"({"messages":[{"role":"system","content":"Mask card numbers."},
                                          {"role":"user","content":"{\"card\": \"4111\"}"}],
                              "stream":false})"));
}

TEST(RewriteQuestionTest, ABodyThatIsNotTextStillMakesValidJson) {
    auto question = Json::parse(rewriteQuestion("p", std::string("a\xff\0b", 4)), nullptr, false);
    ASSERT_TRUE(question.is_object());
    EXPECT_EQ(question["messages"][1]["content"], std::string("a\xEF\xBF\xBD\0b", 6));
}

class FakeLlm final : public http::SideLlm {};

// The worker's services with the LLM call answered by the test.
struct ScriptedServices final : http::StageServices {
    using StageServices::StageServices;
    http::awaitable<http::LlmAnswer> askLlm(const http::SideLlm& llm, http::LlmQuestion question,
                                            http::ResponseSink& /*client*/) override {
        asked_llm = &llm;
        questions.push_back(std::move(question.chat_body));
        timeouts.push_back(question.timeout);
        co_return answer;
    }
    http::LlmAnswer answer;
    const http::SideLlm* asked_llm = nullptr;
    std::vector<std::string> questions;
    std::vector<std::chrono::milliseconds> timeouts;
};

struct Cells final : metrics::CellSource {
    metrics::CounterCell* counter(std::string_view name, std::string_view /*help*/,
                                  const metrics::Labels& labels) override {
        names.emplace_back(name);
        this->labels.push_back(labels);
        return &cell;
    }
    metrics::CounterCell cell{1};
    std::vector<std::string> names;
    std::vector<metrics::Labels> labels;
};

class RequestRewriteStageTest : public ::testing::Test {
protected:
    RequestRewriteStageTest() {
        config::RouteConfig route;
        route.id = "masked";
        route.ai_request_rewrite.emplace();
        route.ai_request_rewrite->prompt = "Mask card numbers.";
        route.ai_request_rewrite->timeout = std::chrono::milliseconds(1500);
        route.ai_request_rewrite->llm.id = "ai-request-rewrite@masked";
        config_.routes.push_back(route);
        shared_ = buildSharedState(config_, std::make_shared<LimitStore>(), nullptr);
        stages_ = buildStages({.route = config_.routes.front(),
                               .shared = *shared_,
                               .cells = &cells_,
                               .side_llm = [this](const config::UpstreamConfig& llm) {
                                   built_for_.push_back(llm.id);
                                   return llm_;
                               }});
        request_.message.method(http::bhttp::verb::post);
        request_.message.target("/llm/chat/completions");
        request_.message.set(http::bhttp::field::content_type, "application/json");
        request_.request_id = "req-1";
    }

    http::StageVerdict run() {
        net::io_context io;
        services_.emplace(io.get_executor(), 0);
        services_->answer = answer_;
        return test::runStages(
            io, stages_, request_, *services_,
            [this](const http::RequestContext& context) { refusal_ = context.refusal; });
    }

    void setBody(std::string body) { request_.replaceBody(std::move(body)); }

    config::Config config_;
    std::shared_ptr<const SharedState> shared_;
    std::shared_ptr<const http::SideLlm> llm_ = std::make_shared<FakeLlm>();
    std::vector<std::string> built_for_;
    Cells cells_;
    std::vector<std::unique_ptr<http::Stage>> stages_;
    http::ClientRequest request_;
    http::LlmAnswer answer_;
    std::optional<ScriptedServices> services_;
    std::optional<http::Refusal> refusal_;
};

TEST_F(RequestRewriteStageTest, TheAnswersTextReplacesTheBody) {
    ASSERT_EQ(built_for_, std::vector<std::string>{"ai-request-rewrite@masked"});
    setBody(R"({"card":"4111 1111 1111 1111"})");
    ASSERT_NE(request_.jsonBody(), nullptr);  // parsed before: the new body must be parsed anew
    answer_ = {.text = R"({"card":"**** 1111"})", .status = 200};
    EXPECT_EQ(run(), http::StageVerdict::Continue);
    EXPECT_EQ(request_.message.body(), R"({"card":"**** 1111"})");
    EXPECT_EQ(request_.message[http::bhttp::field::content_length],
              std::to_string(request_.message.body().size()));
    ASSERT_NE(request_.jsonBody(), nullptr);
    EXPECT_EQ((*request_.jsonBody())["card"], "**** 1111");
    EXPECT_EQ(services_->asked_llm, llm_.get());
    ASSERT_EQ(services_->questions.size(), 1U);
    EXPECT_EQ(services_->questions[0],
              rewriteQuestion("Mask card numbers.", R"({"card":"4111 1111 1111 1111"})"));
    EXPECT_EQ(services_->timeouts[0], std::chrono::milliseconds(1500));
    EXPECT_EQ(cells_.cell.total(), 0U);
}

TEST_F(RequestRewriteStageTest, AFailedCallRefusesWithTheReasonAndIsCounted) {
    setBody("hello");
    answer_ = {.error = "LLM answered 503", .status = 503};
    EXPECT_EQ(run(), http::StageVerdict::Refuse);
    ASSERT_TRUE(refusal_);
    EXPECT_EQ(refusal_->status, 500U);
    EXPECT_EQ(refusal_->message, "ai-request-rewrite: LLM answered 503");
    EXPECT_EQ(refusal_->type, "server_error");
    EXPECT_EQ(refusal_->plugin, "ai-request-rewrite");
    EXPECT_EQ(request_.message.body(), "hello");
    EXPECT_EQ(cells_.cell.total(), 1U);
    ASSERT_EQ(cells_.names, std::vector<std::string>{"aiproxy_plugin_rejected_total"});
    EXPECT_EQ(cells_.labels[0],
              (metrics::Labels{{"route", "masked"}, {"plugin", "ai-request-rewrite"}}));
}

TEST_F(RequestRewriteStageTest, AnEmptyBodyIsRefusedWithoutAskingTheLlm) {
    EXPECT_EQ(run(), http::StageVerdict::Refuse);
    ASSERT_TRUE(refusal_);
    EXPECT_EQ(refusal_->status, 400U);
    EXPECT_EQ(refusal_->plugin, "ai-request-rewrite");
    EXPECT_TRUE(services_->questions.empty());
    EXPECT_EQ(cells_.cell.total(), 1U);
}

TEST_F(RequestRewriteStageTest, AClientThatLeftEndsTheRequestWithoutAnAnswer) {
    setBody("hello");
    answer_ = {.error = "the client left", .client_gone = true};
    EXPECT_EQ(run(), http::StageVerdict::Stop);
    EXPECT_FALSE(refusal_);
    EXPECT_EQ(cells_.cell.total(), 0U);
}

}  // namespace
}  // namespace aiproxy::plugins
