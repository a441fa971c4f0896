#include "aiproxy/upstream/peak_ewma.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;
using test::kT0;

TEST(PeakEwmaTest, NoSampleMeansZero) {
    PeakEwma ewma{10s};
    EXPECT_FALSE(ewma.observed());
    EXPECT_EQ(ewma.seconds(kT0), 0.0);
}

TEST(PeakEwmaTest, FirstSampleIsTheEstimate) {
    PeakEwma ewma{10s};
    ewma.observe(300ms, kT0);
    EXPECT_TRUE(ewma.observed());
    EXPECT_DOUBLE_EQ(ewma.seconds(kT0), 0.3);
}

TEST(PeakEwmaTest, APeakReplacesTheEstimateAtOnce) {
    PeakEwma ewma{10s};
    ewma.observe(100ms, kT0);
    ewma.observe(2s, kT0 + 1ms);
    EXPECT_DOUBLE_EQ(ewma.seconds(kT0 + 1ms), 2.0);
}

TEST(PeakEwmaTest, LowerSamplesBlendInByElapsedTime) {
    PeakEwma ewma{10s};
    ewma.observe(1s, kT0);
    ewma.observe(0s, kT0 + 10s);  // weight of the old estimate: e^-1
    EXPECT_NEAR(ewma.seconds(kT0 + 10s), std::exp(-1.0), 1e-9);
    ewma.observe(200ms, kT0 + 10s);  // no time passed: the estimate does not move
    EXPECT_NEAR(ewma.seconds(kT0 + 10s), std::exp(-1.0), 1e-9);
}

TEST(PeakEwmaTest, ReadingDecaysTowardsZeroWhileNoSamplesCome) {
    PeakEwma ewma{10s};
    ewma.observe(1s, kT0);
    EXPECT_NEAR(ewma.seconds(kT0 + 20s), std::exp(-2.0), 1e-9);
    EXPECT_LT(ewma.seconds(kT0 + 5min), 1e-9);
}

TEST(PeakEwmaTest, ConcurrentWritersAndReadersSeeOnlyRealEstimates) {
    PeakEwma ewma{10s};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
        writers.emplace_back([&ewma, w] {
            for (int i = 0; i < 20'000; ++i)
                ewma.observe(std::chrono::milliseconds{100 + w}, kT0 + std::chrono::seconds{i});
        });
    }
    // Every sample lies in [0.100, 0.103] s, so every consistent read does too.
    for (int i = 0; i < 20'000; ++i) {
        double value = ewma.seconds(kT0);
        if (value != 0.0) {
            ASSERT_TRUE(value >= 0.0999 && value <= 0.1031) << value;
        }
    }
    for (auto& writer : writers)
        writer.join();
}

}  // namespace
}  // namespace aiproxy::upstream
