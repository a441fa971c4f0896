#pragma once
// UpstreamConnection: one keep-alive connection to one node, plain or TLS, plus the connect
// logic (cached DNS, TCP connect and TLS handshake, each under the attempt's deadline).

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "aiproxy/common/asio.hpp"
#include "aiproxy/upstream/upstream.hpp"

namespace aiproxy::upstream {

using Clock = std::chrono::steady_clock;
using common::awaitable;
using common::error_code;
using common::tcp;

// Per-worker DNS cache: resolution runs once per host for ttl, failures are remembered briefly
// so an unreachable resolver does not cost every request.
class DnsCache {
public:
    explicit DnsCache(const common::net::any_io_executor& executor) : resolver_(executor) {}
    awaitable<std::pair<error_code, tcp::resolver::results_type>> resolve(const std::string& host,
                                                                          std::uint16_t port);
    // Forgets every host:port not in `addresses` (nodes that left the configuration).
    void retain(const std::unordered_set<std::string>& addresses);

private:
    struct Entry {
        error_code error;
        tcp::resolver::results_type results;
        Clock::time_point expires;
    };
    tcp::resolver resolver_;
    std::unordered_map<std::string, Entry> entries_;
};

class UpstreamConnection {
public:
    using Plain = boost::beast::tcp_stream;
    using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    UpstreamConnection(Plain&& plain, std::string pool_key);
    UpstreamConnection(Tls&& tls, std::string pool_key);

    boost::beast::tcp_stream& tcp();
    std::variant<Plain, Tls>& stream() { return stream_; }
    boost::beast::flat_buffer& buffer() { return buffer_; }
    const std::string& poolKey() const { return pool_key_; }

    std::size_t requests = 0;  // responses read on this connection
    bool reused = false;       // came from the pool for the current attempt
    Clock::time_point idle_since{};
    Clock::time_point idle_until{};

    // True when the peer closed or sent unsolicited bytes while idle (a cheap poll()).
    bool peerClosedWhileIdle();

private:
    std::variant<Plain, Tls> stream_;
    boost::beast::flat_buffer buffer_;
    std::string pool_key_;
};

enum class ConnectError { None, Dns, Refused, Timeout, Tls };

struct ConnectResult {
    std::unique_ptr<UpstreamConnection> connection;
    ConnectError error = ConnectError::None;
    std::string message;
};

std::string poolKey(const Upstream& upstream, const Node& node);

// Connects to node within min(deadline, connect timeout) and, for https, handshakes within
// min(deadline, tls.client_hello_timeout) with SNI and host name verification.
awaitable<ConnectResult> connectTo(const Upstream& upstream, const Node& node, DnsCache& dns,
                                   Clock::time_point deadline);

}  // namespace aiproxy::upstream
