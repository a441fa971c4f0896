#include "aiproxy/upstream/connection_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace aiproxy::upstream {
namespace {

using namespace std::chrono_literals;

// An unconnected connection: the pool only keeps and times it (no socket is needed).
std::unique_ptr<UpstreamConnection> connection(boost::asio::io_context& io) {
    return std::make_unique<UpstreamConnection>(UpstreamConnection::Plain{io}, "u|http://a:1");
}

TEST(ConnectionPoolTest, AnEmptyPoolHasNoSweepDue) {
    boost::asio::io_context io;
    ConnectionPool pool{io.get_executor()};
    EXPECT_EQ(pool.nextSweep(), Clock::time_point::max());
}

// Issue 17: an idle gateway must not wake every second to look at its pooled sockets.
TEST(ConnectionPoolTest, TheSweepWakesWhenTheFirstIdleConnectionExpiresNotEverySecond) {
    boost::asio::io_context io;
    ConnectionPool pool{io.get_executor()};
    auto before = Clock::now();
    pool.give(connection(io), {.idle_timeout = 60s});
    EXPECT_GE(pool.nextSweep(), before + 60s);
    // A connection given later expires later: the sweep stays on the first expiry.
    pool.give(connection(io), {.idle_timeout = 60s});
    EXPECT_LE(pool.nextSweep(), Clock::now() + 60s);
    // A shorter timeout (after a reload) brings the sweep forward.
    pool.give(connection(io), {.idle_timeout = 5s});
    EXPECT_LE(pool.nextSweep(), Clock::now() + 5s);
}

TEST(ConnectionPoolTest, SweepsStayTheirIntervalApart) {
    boost::asio::io_context io;
    ConnectionPool pool{io.get_executor(), 2s};
    auto before = Clock::now();
    pool.give(connection(io), {.idle_timeout = 100ms});
    EXPECT_GE(pool.nextSweep(), before + 2s);
}

TEST(ConnectionPoolTest, ClearingThePoolCancelsTheSweep) {
    boost::asio::io_context io;
    ConnectionPool pool{io.get_executor()};
    pool.give(connection(io), {.idle_timeout = 60s});
    pool.clear();
    EXPECT_EQ(pool.nextSweep(), Clock::time_point::max());
}

}  // namespace
}  // namespace aiproxy::upstream
