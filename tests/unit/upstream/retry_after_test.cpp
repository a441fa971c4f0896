#include "aiproxy/upstream/retry_after.hpp"

#include <gtest/gtest.h>

namespace aiproxy::upstream {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// The RFC 9110 example instant: Sun, 06 Nov 1994 08:49:37 GMT.
const system_clock::time_point kExample = sys_days{1994y / November / 6} + 8h + 49min + 37s;

TEST(RetryAfterTest, DelaySecondsAreTakenAsIs) {
    EXPECT_EQ(parseRetryAfter("120", kExample), milliseconds{120'000});
    EXPECT_EQ(parseRetryAfter("0", kExample), milliseconds{0});
    EXPECT_EQ(parseRetryAfter(" 2\t", kExample), milliseconds{2'000});
}

TEST(RetryAfterTest, HugeDelaysSaturateInsteadOfOverflowing) {
    auto delay = parseRetryAfter("99999999999999999999999", kExample);
    ASSERT_TRUE(delay);
    EXPECT_EQ(*delay, seconds{1'000'000'000});
}

TEST(RetryAfterTest, ImfFixdateIsMeasuredFromNow) {
    EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kExample - 30s),
              milliseconds{30'000});
    EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kExample - 1500ms),
              milliseconds{1'500});
}

TEST(RetryAfterTest, ObsoleteDateFormatsAreAccepted) {
    EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), kExample);
    EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994"), kExample);
    EXPECT_EQ(parseHttpDate("Thu Nov 16 08:49:37 1994"), kExample + days{10});
    EXPECT_EQ(parseHttpDate("Thursday, 01-Jan-04 00:00:00 GMT"), sys_days{2004y / January / 1});
}

TEST(RetryAfterTest, DateInThePastMeansNoDelay) {
    EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kExample + 1h), milliseconds{0});
}

TEST(RetryAfterTest, GarbageIsRejected) {
    for (const char* value : {"", "  ", "soon", "-1", "1.5", "12s", "Sun, 32 Nov 1994 08:49:37 GMT",
                              "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT",
                              "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 29 Feb 1995 08:49:37 GMT",
                              "Funday, 06-Nov-94 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
                              "Sun, 06 Nov 1994 08:49:37 GMT trailing"}) {
        EXPECT_FALSE(parseRetryAfter(value, kExample)) << value;
    }
}

}  // namespace
}  // namespace aiproxy::upstream
