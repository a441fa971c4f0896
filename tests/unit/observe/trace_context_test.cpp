#include "aiproxy/observe/trace_context.hpp"

#include <gtest/gtest.h>

namespace aiproxy::observe {
namespace {

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesTheSpecExample) {
    auto parent = parseTraceparent(kValid);
    ASSERT_TRUE(parent);
    EXPECT_EQ(toHex(parent->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(toHex(parent->parent_id), "00f067aa0ba902b7");
    EXPECT_TRUE(parent->sampled);
}

TEST(TraceparentTest, ReadsTheSampledFlagBitOnly) {
    auto parent = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    ASSERT_TRUE(parent);
    EXPECT_FALSE(parent->sampled);
    parent = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
    ASSERT_TRUE(parent);
    EXPECT_TRUE(parent->sampled);
}

TEST(TraceparentTest, RefusesMalformedHeaders) {
    for (const char* header : {
             "", "garbage",
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
             "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // forbidden version
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 has no more
             "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
             "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",    // misplaced dash
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",    // flags not hex
         }) {
        EXPECT_FALSE(parseTraceparent(header)) << header;
    }
}

TEST(TraceparentTest, AcceptsALaterVersionWithMoreFields) {
    EXPECT_TRUE(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
    EXPECT_TRUE(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    EXPECT_FALSE(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST(TraceparentTest, FormatsWhatItParses) {
    auto parent = parseTraceparent(kValid);
    ASSERT_TRUE(parent);
    EXPECT_EQ(formatTraceparent(parent->trace_id, parent->parent_id, true), kValid);
    EXPECT_EQ(formatTraceparent(parent->trace_id, parent->parent_id, false).substr(53), "00");
}

TEST(TracestateTest, AcceptsListsAndRefusesBrokenOnes) {
    EXPECT_TRUE(validTracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
    EXPECT_TRUE(validTracestate("a=1, ,b=2"));
    EXPECT_FALSE(validTracestate("novalue"));
    EXPECT_FALSE(validTracestate("=x"));
    EXPECT_FALSE(validTracestate("a="));
    EXPECT_FALSE(validTracestate(std::string(513, 'a')));
    std::string many;
    for (int i = 0; i < 33; ++i)
        many += "k" + std::to_string(i) + "=v,";
    EXPECT_FALSE(validTracestate(many));
}

TEST(SamplingTest, ParentDecidesWhenThereIsOne) {
    TraceId id{};
    id[15] = 1;
    TraceParent sampled{.trace_id = id, .parent_id = {1}, .sampled = true};
    TraceParent unsampled{.trace_id = id, .parent_id = {1}, .sampled = false};
    EXPECT_TRUE(shouldSample(sampled, id, 0.0));
    EXPECT_FALSE(shouldSample(unsampled, id, 1.0));
}

TEST(SamplingTest, RatioKeepsTheShareOfNewTraces) {
    EXPECT_FALSE(shouldSample(std::nullopt, TraceId{1}, 0.0));
    EXPECT_TRUE(shouldSample(std::nullopt, TraceId{1}, 1.0));
    int kept = 0;
    for (std::uint32_t i = 0; i < 10000; ++i) {
        TraceId id{};
        std::uint64_t low = (i * 0x9E3779B97F4A7C15ull) ^ (i >> 3);
        for (int b = 0; b < 8; ++b)
            id[8 + b] = static_cast<std::uint8_t>(low >> (56 - 8 * b));
        if (shouldSample(std::nullopt, id, 0.25)) ++kept;
    }
    EXPECT_GT(kept, 2200);
    EXPECT_LT(kept, 2800);
}

TEST(SamplingTest, SameTraceSameDecision) {
    TraceId id{};
    id[8] = 0x30;  // low 8 bytes read as 0x30.. : about 0.19 of the range
    EXPECT_TRUE(shouldSample(std::nullopt, id, 0.2));
    EXPECT_FALSE(shouldSample(std::nullopt, id, 0.18));
}

}  // namespace
}  // namespace aiproxy::observe
