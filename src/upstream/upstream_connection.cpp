#include "aiproxy/upstream/upstream_connection.hpp"

#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

namespace aiproxy::upstream {
namespace {

constexpr auto kDnsTtl = std::chrono::seconds(30);
constexpr auto kDnsFailureTtl = std::chrono::seconds(1);

Clock::time_point earliest(Clock::time_point deadline, std::chrono::milliseconds limit) {
    return std::min(deadline, Clock::now() + limit);
}

}  // namespace

void DnsCache::retain(const std::unordered_set<std::string>& addresses) {
    std::erase_if(entries_, [&](const auto& entry) { return addresses.count(entry.first) == 0; });
}

awaitable<std::pair<error_code, tcp::resolver::results_type>> DnsCache::resolve(
    const std::string& host, std::uint16_t port) {
    std::string key = host + ":" + std::to_string(port);
    auto now = Clock::now();
    if (auto it = entries_.find(key); it != entries_.end() && it->second.expires > now) {
        co_return std::pair{it->second.error, it->second.results};
    }
    // Literal addresses never touch the resolver thread.
    error_code parse_ec;
    auto address = common::net::ip::make_address(host, parse_ec);
    if (!parse_ec) {
        auto results = tcp::resolver::results_type::create(tcp::endpoint{address, port}, host,
                                                           std::to_string(port));
        entries_[key] = Entry{.results = results, .expires = Clock::time_point::max()};
        co_return std::pair{error_code{}, results};
    }
    auto [ec, results] =
        co_await resolver_.async_resolve(host, std::to_string(port), common::use_nothrow);
    entries_[key] = Entry{
        .error = ec, .results = results, .expires = Clock::now() + (ec ? kDnsFailureTtl : kDnsTtl)};
    co_return std::pair{ec, results};
}

UpstreamConnection::UpstreamConnection(Plain&& plain, std::string pool_key)
    : stream_(std::in_place_type<Plain>, std::move(plain)), pool_key_(std::move(pool_key)) {}

UpstreamConnection::UpstreamConnection(Tls&& tls, std::string pool_key)
    : stream_(std::in_place_type<Tls>, std::move(tls)), pool_key_(std::move(pool_key)) {}

boost::beast::tcp_stream& UpstreamConnection::tcp() {
    if (auto* plain = std::get_if<Plain>(&stream_)) return *plain;
    return std::get<Tls>(stream_).next_layer();
}

bool UpstreamConnection::peerClosedWhileIdle() {
    if (buffer_.size() != 0) return true;  // bytes after a complete response: not trustworthy
    pollfd fd{.fd = tcp().socket().native_handle(), .events = POLLIN | POLLRDHUP, .revents = 0};
    // Readable while idle means EOF, RST or garbage (TLS alerts included): never reuse it.
    return ::poll(&fd, 1, 0) != 0;
}

std::string poolKey(const Upstream& upstream, const Node& node) {
    std::string key = upstream.id();
    key += '|';
    key += upstream.tls() ? "https://" : "http://";
    key += node.address;
    if (upstream.tls()) {
        key += '|';
        key += upstream.config().tls.sni;
        key += upstream.config().tls.verify ? "|v" : "|nv";
    }
    return key;
}

awaitable<ConnectResult> connectTo(const Upstream& upstream, const Node& node, DnsCache& dns,
                                   Clock::time_point deadline) {
    auto executor = co_await boost::asio::this_coro::executor;
    auto [dns_ec, endpoints] = co_await dns.resolve(node.host, node.port);
    if (dns_ec) {
        co_return ConnectResult{.error = ConnectError::Dns,
                                .message = "cannot resolve " + node.host + ": " + dns_ec.message()};
    }
    boost::beast::tcp_stream tcp_stream{executor};
    tcp_stream.expires_at(earliest(deadline, upstream.config().timeout.connect));
    auto [connect_ec, endpoint] = co_await tcp_stream.async_connect(endpoints, common::use_nothrow);
    if (connect_ec) {
        bool timeout = connect_ec == boost::beast::error::timeout;
        co_return ConnectResult{
            .error = timeout ? ConnectError::Timeout : ConnectError::Refused,
            .message = "connect to " + node.address + " failed: " + connect_ec.message()};
    }
    error_code ignored;
    tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
    tcp_stream.expires_never();
    if (!upstream.tls()) {
        co_return ConnectResult{.connection = std::make_unique<UpstreamConnection>(
                                    std::move(tcp_stream), poolKey(upstream, node))};
    }

    UpstreamConnection::Tls tls{std::move(tcp_stream), *upstream.tlsContext()};
    const auto& settings = upstream.config().tls;
    const std::string& server_name = settings.sni.empty() ? node.host : settings.sni;
    error_code not_an_address;
    common::net::ip::make_address(server_name, not_an_address);
    bool literal = !not_an_address;  // SNI carries host names only
    if (!literal && !SSL_set_tlsext_host_name(tls.native_handle(), server_name.c_str())) {
        co_return ConnectResult{.error = ConnectError::Tls,
                                .message = "cannot set SNI " + server_name};
    }
    if (settings.verify) {
        tls.set_verify_callback(boost::asio::ssl::host_name_verification(server_name));
    }
    tls.next_layer().expires_at(earliest(deadline, settings.client_hello_timeout));
    auto [tls_ec] =
        co_await tls.async_handshake(boost::asio::ssl::stream_base::client, common::use_nothrow);
    if (tls_ec) {
        bool timeout = tls_ec == boost::beast::error::timeout;
        co_return ConnectResult{
            .error = timeout ? ConnectError::Timeout : ConnectError::Tls,
            .message = "TLS handshake with " + node.address + " failed: " + tls_ec.message()};
    }
    tls.next_layer().expires_never();
    co_return ConnectResult{.connection = std::make_unique<UpstreamConnection>(
                                std::move(tls), poolKey(upstream, node))};
}

}  // namespace aiproxy::upstream
