#include "aiproxy/ai/response_rewrite.hpp"

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

namespace aiproxy::ai {
namespace {

using Json = nlohmann::json;

std::shared_ptr<const ResponseRewrite> makeRewrite(const std::string& prepend = "> ",
                                                   const std::string& append = " <") {
    config::AiResponseRewriteConfig config{
        .redact = {{.pattern = R"(\d{4}-\d{4})", .replace = "[CARD]"},
                   {.pattern = "hunter2", .replace = "***"}},
        .prepend_text = prepend,
        .append_text = append};
    std::string error;
    auto rewrite = compileResponseRewrite(config, error);
    EXPECT_TRUE(rewrite) << error;
    return rewrite;
}

TEST(ResponseRewriteTest, OpenAiAnswerTextIsRedactedAndFramedOtherFieldsKeptInOrder) {
    auto rewrite = makeRewrite();
    const std::string body =
        R"({"id":"chatcmpl-1","object":"chat.completion","choices":[)"
        R"({"index":0,"message":{"role":"assistant","content":"card 1234-5678, pw hunter2"},)"
        R"("finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":9}})";
    std::size_t redactions = 0;
    auto out = rewriteAnswerBody(*rewrite, ClientApi::OpenAiChat, body, redactions);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out,
              R"({"id":"chatcmpl-1","object":"chat.completion","choices":[)"
              R"({"index":0,"message":{"role":"assistant","content":"> card [CARD], pw *** <"},)"
              R"("finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":9}})");
    EXPECT_EQ(redactions, 2U);
}

TEST(ResponseRewriteTest, EachOpenAiChoiceIsRewrittenAndToolCallsAreLeftAlone) {
    auto rewrite = makeRewrite();
    Json body = {
        {"choices",
         {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "a hunter2"}}}},
          {{"index", 1}, {"message", {{"role", "assistant"}, {"content", "b"}}}},
          {{"index", 2},
           {"message",
            {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", Json::array()}}}}}}};
    std::size_t redactions = 0;
    auto out = rewriteAnswerBody(*rewrite, ClientApi::OpenAiChat, body.dump(), redactions);
    ASSERT_TRUE(out);
    Json rewritten = Json::parse(*out);
    EXPECT_EQ(rewritten["choices"][0]["message"]["content"], "> a *** <");
    EXPECT_EQ(rewritten["choices"][1]["message"]["content"], "> b <");
    EXPECT_TRUE(rewritten["choices"][2]["message"]["content"].is_null());
}

TEST(ResponseRewriteTest, AnthropicTextBlocksAreRedactedAndTheMessageFramed) {
    auto rewrite = makeRewrite();
    Json body = {
        {"type", "message"},
        {"content",
         {{{"type", "text"}, {"text", "first 1234-5678"}},
          {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "get"}, {"input", Json::object()}},
          {{"type", "text"}, {"text", "last"}}}},
        {"usage", {{"input_tokens", 3}, {"output_tokens", 5}}}};
    std::size_t redactions = 0;
    auto out = rewriteAnswerBody(*rewrite, ClientApi::AnthropicMessages, body.dump(), redactions);
    ASSERT_TRUE(out);
    Json rewritten = Json::parse(*out);
    EXPECT_EQ(rewritten["content"][0]["text"], "> first [CARD]");
    EXPECT_EQ(rewritten["content"][1], body["content"][1]);
    EXPECT_EQ(rewritten["content"][2]["text"], "last <");
    EXPECT_EQ(rewritten["usage"], body["usage"]);
    EXPECT_EQ(redactions, 1U);
}

TEST(ResponseRewriteTest, BodiesThatAreNotAnswersOfTheApiAreLeftAsTheyCame) {
    auto rewrite = makeRewrite();
    std::size_t redactions = 0;
    EXPECT_FALSE(rewriteAnswerBody(*rewrite, ClientApi::OpenAiChat, "not json", redactions));
    EXPECT_FALSE(rewriteAnswerBody(*rewrite, ClientApi::OpenAiChat, R"({"data":[]})", redactions));
    EXPECT_FALSE(rewriteAnswerBody(*rewrite, ClientApi::AnthropicMessages, "[1,2]", redactions));
    EXPECT_FALSE(rewriteAnswerBody(*rewrite, ClientApi::OpenAiChat,
                                   std::string(100000, '[') + std::string(100000, ']'),
                                   redactions));
}

TEST(ResponseRewriteTest, CompileRejectsABadPattern) {
    config::AiResponseRewriteConfig config{.redact = {{.pattern = "(", .replace = "x"}}};
    std::string error;
    EXPECT_FALSE(compileResponseRewrite(config, error));
    EXPECT_NE(error.find("invalid pattern"), std::string::npos) << error;
}

}  // namespace
}  // namespace aiproxy::ai
