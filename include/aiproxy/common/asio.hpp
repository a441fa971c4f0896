#pragma once
// Asio vocabulary shared by every I/O folder (ARCHITECTURE.md section 5: common owns it), so
// http/ and upstream/ name the same types without one including the other.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace aiproxy::common {

namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
template <class T>
using awaitable = boost::asio::awaitable<T>;

// Expected I/O errors come back as values, not exceptions (ARCHITECTURE.md section 2).
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace aiproxy::common
