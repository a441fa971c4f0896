#include "aiproxy/ai/pricing.hpp"

#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "support/files.hpp"

namespace aiproxy::ai {
namespace {

using config::ModelPrice;

PriceTable table() {
    return PriceTable({
        {"gpt-4", {.input_per_mtok = 30, .output_per_mtok = 60}},
        {"gpt-4o", {.input_per_mtok = 2.5, .output_per_mtok = 10, .cached_input_per_mtok = 1.25}},
        {"gpt-4o-mini",
         {.input_per_mtok = 0.15, .output_per_mtok = 0.6, .cached_input_per_mtok = 0.075}},
        {"gpt-4o-2024-05-13", {.input_per_mtok = 5, .output_per_mtok = 15}},
        {"claude-sonnet-4",
         {.input_per_mtok = 3, .output_per_mtok = 15, .cached_input_per_mtok = 0.3}},
        {"o3", {.input_per_mtok = 2, .output_per_mtok = 8, .cached_input_per_mtok = 0.5}},
    });
}

double inputPrice(const PriceTable& prices, std::string_view model) {
    const ModelPrice* price = prices.find(model);
    return price == nullptr ? -1 : price->input_per_mtok;
}

TEST(PriceTableTest, ExactNameFirst) {
    const PriceTable prices = table();
    EXPECT_EQ(inputPrice(prices, "gpt-4o"), 2.5);
    EXPECT_EQ(inputPrice(prices, "gpt-4o-2024-05-13"), 5) << "a dated entry beats its family";
}

TEST(PriceTableTest, LongestPrefixAtAVersionSeparator) {
    const PriceTable prices = table();
    EXPECT_EQ(inputPrice(prices, "gpt-4o-2024-08-06"), 2.5);
    EXPECT_EQ(inputPrice(prices, "gpt-4o-mini-2024-07-18"), 0.15);
    EXPECT_EQ(inputPrice(prices, "claude-sonnet-4-20250514"), 3);
    EXPECT_EQ(inputPrice(prices, "o3-2025-04-16"), 2);
    EXPECT_EQ(inputPrice(prices, "gpt-4-0613"), 30);
    EXPECT_EQ(inputPrice(prices, "o3:latest"), 2);
    EXPECT_EQ(inputPrice(prices, "claude-sonnet-4@20250514"), 3);
}

TEST(PriceTableTest, APrefixMustEndAtASeparator) {
    const PriceTable prices = PriceTable({{"gpt-4", {.input_per_mtok = 30}}});
    EXPECT_EQ(prices.find("gpt-4o"), nullptr);
    EXPECT_EQ(prices.find("gpt-4.1"), nullptr);
    EXPECT_EQ(table().find("o3x"), nullptr);
}

TEST(PriceTableTest, VendorPrefixedNamesUseTheLastSegment) {
    const PriceTable prices = table();
    EXPECT_EQ(inputPrice(prices, "openai/gpt-4o"), 2.5);
    EXPECT_EQ(inputPrice(prices, "openai/gpt-4o-mini-2024-07-18"), 0.15);
    EXPECT_EQ(inputPrice(prices, "models/o3"), 2);
}

TEST(PriceTableTest, UnknownModelsHaveNoPrice) {
    const PriceTable prices = table();
    EXPECT_EQ(prices.find("llama-3.1-70b-instruct"), nullptr);
    EXPECT_EQ(prices.find(""), nullptr);
    EXPECT_EQ(prices.find("-"), nullptr);
    EXPECT_EQ(prices.find("gpt"), nullptr);
    EXPECT_TRUE(PriceTable().empty());
    EXPECT_EQ(PriceTable().find("gpt-4o"), nullptr);
}

TEST(PriceTableTest, LaterEntriesReplaceEarlierOnes) {
    const PriceTable prices =
        PriceTable({{"gpt-4o", {.input_per_mtok = 2.5}}, {"gpt-4o", {.input_per_mtok = 1.0}}});
    EXPECT_EQ(inputPrice(prices, "gpt-4o"), 1.0);
}

TEST(CostTest, PromptCompletionAndCachedTokens) {
    // 800k uncached * $2.50 + 200k cached * $1.25 + 500k completion * $10 = 2 + 0.25 + 5.
    const Usage usage{
        .prompt_tokens = 1'000'000, .completion_tokens = 500'000, .cached_prompt_tokens = 200'000};
    EXPECT_DOUBLE_EQ(*costUsd(table(), "gpt-4o-2024-08-06", usage), 7.25);
}

TEST(CostTest, ReasoningTokensAreBilledAsPartOfCompletion) {
    // 2000 * $2 + 1000 * $8 (of which 600 reasoning) = 0.004 + 0.008.
    const Usage usage{.prompt_tokens = 2000, .completion_tokens = 1000, .reasoning_tokens = 600};
    EXPECT_DOUBLE_EQ(*costUsd(table(), "o3", usage), 0.012);
}

TEST(CostTest, CachedTokensCostTheInputPriceWithoutACachedPrice) {
    // 1M tokens, half cached, all at $5.
    const Usage usage{
        .prompt_tokens = 1'000'000, .completion_tokens = 0, .cached_prompt_tokens = 500'000};
    EXPECT_DOUBLE_EQ(*costUsd(table(), "gpt-4o-2024-05-13", usage), 5.0);
}

TEST(CostTest, AnthropicCacheWritesCostAQuarterMoreThanInput) {
    // 1000 input * $3 + 2000 cache reads * $0.30 + 100 cache writes * $3.75 + 15 output * $15
    // = 3000 + 600 + 375 + 225 micro-dollars.
    const Usage usage{.prompt_tokens = 1000 + 2000 + 100,
                      .completion_tokens = 15,
                      .cached_prompt_tokens = 2000,
                      .cache_creation_tokens = 100};
    EXPECT_DOUBLE_EQ(*costUsd(table(), "claude-sonnet-4-20250514", usage), 0.0042);
}

TEST(CostTest, InconsistentCacheCountsNeverBillATokenTwice) {
    // More cached tokens than prompt tokens: the whole prompt is billed once, at the cached
    // price; cache writes have nothing left to claim.
    const Usage usage{.prompt_tokens = 1'000'000,
                      .completion_tokens = 0,
                      .cached_prompt_tokens = 3'000'000,
                      .cache_creation_tokens = 5};
    EXPECT_DOUBLE_EQ(*costUsd(table(), "gpt-4o", usage), 1.25);
}

TEST(CostTest, UnknownModelOrCountsGiveNoCost) {
    EXPECT_EQ(costUsd(table(), "mystery", Usage{.prompt_tokens = 1, .completion_tokens = 1}),
              std::nullopt);
    EXPECT_EQ(costUsd(table(), "gpt-4o", Usage{.prompt_tokens = 10}), std::nullopt);
    EXPECT_EQ(costUsd(table(), "gpt-4o", Usage{.completion_tokens = 10}), std::nullopt);
    EXPECT_EQ(costUsd(table(), "gpt-4o", Usage{.prompt_tokens = 0, .completion_tokens = 0}), 0.0);
}

// The shipped default table loads with the real config loader and prices the families the
// gateway is most used with.
TEST(ShippedPricingTest, LoadsAndCoversCommonModels) {
    const config::LoadResult loaded = config::parseConfig(
        aiproxy::test::readFile(aiproxy::test::sourcePath("config/pricing.yaml")),
        config::Format::Yaml, [](const std::string&) { return std::nullopt; });
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors.front().toString();
    ASSERT_TRUE(loaded.config.has_value());
    const PriceTable prices(loaded.config->pricing);
    for (const char* model : {"gpt-4o",
                              "gpt-4o-2024-11-20",
                              "gpt-4o-mini-2024-07-18",
                              "gpt-4.1-2025-04-14",
                              "gpt-4.1-mini",
                              "gpt-4.1-nano",
                              "o1",
                              "o1-mini",
                              "o3-mini-2025-01-31",
                              "o3",
                              "o4-mini-2025-04-16",
                              "gpt-3.5-turbo-0125",
                              "text-embedding-3-small",
                              "text-embedding-3-large",
                              "claude-3-5-sonnet-20241022",
                              "claude-3-5-haiku-latest",
                              "claude-3-7-sonnet-20250219",
                              "claude-sonnet-4-20250514",
                              "claude-opus-4-20250514",
                              "claude-opus-4-1-20250805",
                              "claude-sonnet-4-5-20250929",
                              "claude-haiku-4-5",
                              "claude-3-opus-latest",
                              "deepseek-chat",
                              "deepseek-reasoner",
                              "mistral-large-latest",
                              "mistral-small-latest",
                              "gemini-1.5-pro-002",
                              "gemini-1.5-flash",
                              "gemini-2.0-flash-001",
                              "gemini-2.5-pro",
                              "gemini-2.5-flash",
                              "models/gemini-2.5-flash-lite"}) {
        EXPECT_NE(prices.find(model), nullptr) << model;
    }
    const Usage usage{.prompt_tokens = 1'000'000, .completion_tokens = 1'000'000};
    EXPECT_DOUBLE_EQ(*costUsd(prices, "gpt-4o-mini", usage), 0.15 + 0.60);
    EXPECT_DOUBLE_EQ(*costUsd(prices, "claude-sonnet-4-5-20250929", usage), 3 + 15);
    EXPECT_DOUBLE_EQ(*costUsd(prices, "claude-opus-4-5", usage), 5 + 25);
}

}  // namespace
}  // namespace aiproxy::ai
