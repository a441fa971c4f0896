#include "aiproxy/observe/span_queue.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace aiproxy::observe {
namespace {

std::vector<Span> spans(std::size_t count) {
    return std::vector<Span>(count);
}

auto past() {
    return std::chrono::steady_clock::now() - std::chrono::seconds(1);
}

TEST(SpanQueueTest, TakesUpToABatch) {
    SpanQueue queue{10, 4};
    ASSERT_TRUE(queue.push(spans(6)));
    EXPECT_EQ(queue.take(past()).size(), 4u);
    EXPECT_EQ(queue.take(past()).size(), 2u);
    EXPECT_TRUE(queue.take(past()).empty());
}

TEST(SpanQueueTest, DropsARequestsSpansWholeWhenTheyDoNotFit) {
    SpanQueue queue{5, 2};
    ASSERT_TRUE(queue.push(spans(3)));
    EXPECT_FALSE(queue.push(spans(3)));  // 6 > 5: none of them, so no trace has holes
    EXPECT_EQ(queue.size(), 3u);
    EXPECT_TRUE(queue.push(spans(2)));
    EXPECT_FALSE(queue.push(spans(1)));
}

TEST(SpanQueueTest, ClosedQueueRefusesPushesButGivesWhatItHolds) {
    SpanQueue queue{10, 4};
    ASSERT_TRUE(queue.push(spans(2)));
    queue.close();
    EXPECT_FALSE(queue.push(spans(1)));
    EXPECT_TRUE(queue.closed());
    // Closed: take does not wait for a full batch or the deadline.
    auto far = std::chrono::steady_clock::now() + std::chrono::hours(1);
    EXPECT_EQ(queue.take(far).size(), 2u);
    EXPECT_TRUE(queue.take(far).empty());
}

TEST(SpanQueueTest, AFullBatchWakesTheTaker) {
    SpanQueue queue{10, 3};
    std::size_t taken = 0;
    std::thread taker([&] {
        taken = queue.take(std::chrono::steady_clock::now() + std::chrono::hours(1)).size();
    });
    ASSERT_TRUE(queue.push(spans(1)));
    ASSERT_TRUE(queue.push(spans(2)));
    taker.join();  // woken by the push that made a batch, not by the hour
    EXPECT_EQ(taken, 3u);
}

}  // namespace
}  // namespace aiproxy::observe
