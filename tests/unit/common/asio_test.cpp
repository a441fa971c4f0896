#include "aiproxy/common/asio.hpp"

#include <chrono>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

namespace aiproxy::common {
namespace {

static_assert(std::is_same_v<awaitable<int>, boost::asio::awaitable<int>>);
static_assert(std::is_same_v<error_code, boost::system::error_code>);
static_assert(std::is_same_v<tcp, boost::asio::ip::tcp>);
static_assert(std::is_same_v<net::io_context, boost::asio::io_context>);

TEST(AsioTest, UseNothrowReturnsTheErrorAsAValue) {
    net::io_context context;
    net::steady_timer timer{context, std::chrono::hours(1)};
    error_code seen;
    bool finished = false;
    net::co_spawn(
        context,
        [&]() -> awaitable<void> {
            auto [ec] = co_await timer.async_wait(use_nothrow);
            seen = ec;
            finished = true;
        },
        net::detached);
    context.poll();  // starts the wait
    timer.cancel();
    context.run();
    EXPECT_TRUE(finished);
    EXPECT_EQ(seen, net::error::operation_aborted);
}

TEST(AsioTest, UseNothrowReturnsSuccessAsAnEmptyError) {
    net::io_context context;
    net::steady_timer timer{context, std::chrono::steady_clock::time_point{}};  // already due
    error_code seen = net::error::operation_aborted;
    net::co_spawn(
        context,
        [&]() -> awaitable<void> {
            auto [ec] = co_await timer.async_wait(use_nothrow);
            seen = ec;
        },
        net::detached);
    context.run();
    EXPECT_FALSE(seen);
}

}  // namespace
}  // namespace aiproxy::common
