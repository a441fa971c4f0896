#pragma once
// Header rules shared by both directions of the proxy (RFC 9110 section 7.6.1).

#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>

namespace aiproxy::http {

// Connection, Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade (case-insensitive).
bool isHopByHop(std::string_view name);

// Removes the hop-by-hop headers and every header the Connection header names.
void removeHopByHop(boost::beast::http::fields& fields);

// The X-Forwarded-For value to send on: the client's list (if any) with the peer appended.
std::string appendForwardedFor(std::string_view existing, std::string_view peer);

}  // namespace aiproxy::http
