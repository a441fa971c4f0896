#pragma once
// Header rules shared by both directions of the proxy (RFC 9110 section 7.6.1).

#include <boost/beast/http/fields.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace aiproxy::http {

// Connection, Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade (case-insensitive).
bool isHopByHop(std::string_view name);

// Removes the hop-by-hop headers and every header the Connection header names.
void removeHopByHop(boost::beast::http::fields& fields);

// Appends "Name: value\r\n" for every end-to-end field (not hop-by-hop, not named by
// Connection) whose name is not in skip (case-insensitive). Used to serialize forwarded
// headers once per request instead of copying them field by field per attempt.
void appendEndToEndFields(std::string& out, const boost::beast::http::fields& fields,
                          const std::vector<std::string_view>& skip);

// Every field named `name`, in order, joined with ", ": a list split over several lines means
// the same as one line (RFC 9110 section 5.3). Empty when there is none.
std::string combinedFieldValue(const boost::beast::http::fields& fields, std::string_view name);

// The X-Forwarded-For value to send on: the client's list (if any) with the peer appended.
std::string appendForwardedFor(std::string_view existing, std::string_view peer);

}  // namespace aiproxy::http
