#include "aiproxy/ai/request_model.hpp"

#include <string>

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

TEST(RequestModelTest, OnlyTheTopLevelModelCounts) {
    EXPECT_EQ(findRequestModel(R"({"metadata":{"model":"tier1"},"model":"gpt-4o"})"), "gpt-4o");
    EXPECT_EQ(findRequestModel(R"({"tools":[{"model":"x"}],"messages":[]})"), std::nullopt);
    EXPECT_EQ(findRequestModel(R"({"a":[1,{"b":"]}"}],"model":"m"})"), "m");
}

TEST(RequestModelTest, TheLastDuplicateWinsAsForJsonParsers) {
    EXPECT_EQ(findRequestModel(R"({"model":"x","model":"gpt-4o"})"), "gpt-4o");
    EXPECT_EQ(findRequestModel(R"({"model":"x","model":7})"), std::nullopt);
}

TEST(RequestModelTest, ModelsThatCannotBeHeaderValuesAreUnreadable) {
    auto escaped = scanRequestModel(R"({"model":"gpt\r\nSet-Cookie: evil=1"})");
    EXPECT_EQ(escaped.model, std::nullopt);
    EXPECT_TRUE(escaped.unreadable);
    auto raw = scanRequestModel("{\"model\":\"gpt\r\nSet-Cookie: evil=1\"}");
    EXPECT_EQ(raw.model, std::nullopt);
    EXPECT_TRUE(raw.unreadable);
    EXPECT_TRUE(scanRequestModel(R"({"model":")" + std::string(300, 'a') + R"("})").unreadable);
    EXPECT_FALSE(isAcceptableModelName("gpt\r\n"));
    EXPECT_FALSE(isAcceptableModelName(std::string(1, '\0')));
    EXPECT_TRUE(isAcceptableModelName("claude-sonnet-4-5@2025"));
}

TEST(RequestModelTest, BodiesThatAreNotObjectsHaveNoModel) {
    EXPECT_EQ(findRequestModel(R"(["model","x"])"), std::nullopt);
    EXPECT_EQ(findRequestModel(R"({"model":"x",)"), std::nullopt);
    EXPECT_EQ(findRequestModel(R"({"a":{"model":"x")"), std::nullopt);
}

}  // namespace
}  // namespace aiproxy::ai
