#pragma once
// Beast vocabulary of the data path, plus common's Asio names (common/asio.hpp) re-exported so
// http:: code and its users keep one spelling.

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "aiproxy/common/asio.hpp"

namespace boost::beast {
template <class NextLayer>
class ssl_stream;  // <boost/beast/ssl/ssl_stream.hpp>, needed only where TLS is spoken
}

namespace aiproxy::http {

namespace net = common::net;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::awaitable;
using common::error_code;
using common::tcp;
using common::use_nothrow;

// A client connection over server.tls.
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

}  // namespace aiproxy::http
