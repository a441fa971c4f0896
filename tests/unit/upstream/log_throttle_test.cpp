#include "aiproxy/upstream/log_throttle.hpp"

#include <gtest/gtest.h>

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;

TEST(LogThrottleTest, TheFirstFailureOfAnEpisodeIsLoggedAtOnce) {
    LogThrottle throttle{5s};
    auto start = LogThrottle::Clock::time_point{} + 100s;
    EXPECT_EQ(throttle.admit(start), 0u);
}

TEST(LogThrottleTest, LinesWithinTheIntervalAreCountedAndReportedWithTheNextOne) {
    LogThrottle throttle{5s};
    auto start = LogThrottle::Clock::time_point{} + 100s;
    ASSERT_EQ(throttle.admit(start), 0u);
    EXPECT_FALSE(throttle.admit(start + 1s).has_value());
    EXPECT_FALSE(throttle.admit(start + 4s).has_value());
    EXPECT_FALSE(throttle.admit(start + 4999ms).has_value());
    EXPECT_EQ(throttle.admit(start + 5s), 3u);
    EXPECT_FALSE(throttle.admit(start + 6s).has_value());
}

TEST(LogThrottleTest, AfterAQuietIntervalANewEpisodeStartsWithNothingLeftOut) {
    LogThrottle throttle{5s};
    auto start = LogThrottle::Clock::time_point{} + 100s;
    ASSERT_EQ(throttle.admit(start), 0u);
    EXPECT_EQ(throttle.admit(start + 60s), 0u);
}

}  // namespace
}  // namespace aiproxy::upstream
