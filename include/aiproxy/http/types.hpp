#pragma once
// Asio/Beast vocabulary of the data path, in one place.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace boost::beast {
template <class NextLayer>
class ssl_stream;  // <boost/beast/ssl/ssl_stream.hpp>, needed only where TLS is spoken
}

namespace aiproxy::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
template <class T>
using awaitable = boost::asio::awaitable<T>;

// Expected I/O errors come back as values, not exceptions (ARCHITECTURE.md section 2).
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

// A client connection over server.tls.
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

}  // namespace aiproxy::http
