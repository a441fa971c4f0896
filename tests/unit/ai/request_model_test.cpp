#include "aiproxy/ai/request_model.hpp"

#include <gtest/gtest.h>

namespace aiproxy::ai {
namespace {

TEST(RequestModelTest, FindsTheModelKey) {
    EXPECT_EQ(findRequestModel(R"({"model":"gpt-4o","messages":[]})"), "gpt-4o");
    EXPECT_EQ(findRequestModel(R"({ "messages": [], "model" :  "llama-3.1-70b" })"),
              "llama-3.1-70b");
}

TEST(RequestModelTest, PromptTextCannotFakeTheKey) {
    EXPECT_EQ(
        findRequestModel(R"({"messages":[{"content":"say \"model\": \"evil\""}],"model":"real"})"),
        "real");
}

TEST(RequestModelTest, AbsentOrNotAPlainStringGivesNothing) {
    EXPECT_EQ(findRequestModel(R"({"messages":[]})"), std::nullopt);
    EXPECT_EQ(findRequestModel(R"({"model":42})"), std::nullopt);
    EXPECT_EQ(findRequestModel(R"({"model":"esc\"aped"})"), std::nullopt);
    EXPECT_EQ(findRequestModel(R"({"model":"unterminated)"), std::nullopt);
    EXPECT_EQ(findRequestModel(""), std::nullopt);
}

}  // namespace
}  // namespace aiproxy::ai
