#include "aiproxy/observe/histogram_quantile.hpp"

#include <gtest/gtest.h>

namespace aiproxy::observe {
namespace {

const std::vector<double> kBounds{0.1, 0.5, 1};

TEST(HistogramQuantileTest, EmptyBucketsHaveNoQuantile) {
    EXPECT_FALSE(histogramQuantile(kBounds, {0, 0, 0, 0}, 0.5));
    EXPECT_FALSE(histogramQuantile({}, {3}, 0.5));
}

TEST(HistogramQuantileTest, InterpolatesInsideTheBucketHoldingTheRank) {
    // 10 observations in (0.1, 0.5]: the median sits halfway through that bucket.
    EXPECT_DOUBLE_EQ(*histogramQuantile(kBounds, {0, 10, 0, 0}, 0.5), 0.3);
    // The first bucket starts at 0.
    EXPECT_DOUBLE_EQ(*histogramQuantile(kBounds, {4, 0, 0, 0}, 0.5), 0.05);
}

TEST(HistogramQuantileTest, HighQuantileLandsInTheSlowBucket) {
    // 98 fast, 2 slow: p50 is fast, p99 is in (0.5, 1].
    auto p50 = *histogramQuantile(kBounds, {98, 0, 2, 0}, 0.5);
    auto p99 = *histogramQuantile(kBounds, {98, 0, 2, 0}, 0.99);
    EXPECT_LE(p50, 0.1);
    EXPECT_GT(p99, 0.5);
    EXPECT_LE(p99, 1);
}

TEST(HistogramQuantileTest, RankInTheInfBucketAnswersTheHighestBound) {
    EXPECT_DOUBLE_EQ(*histogramQuantile(kBounds, {0, 0, 0, 5}, 0.5), 1);
}

}  // namespace
}  // namespace aiproxy::observe
