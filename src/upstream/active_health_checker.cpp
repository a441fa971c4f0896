#include "aiproxy/upstream/active_health_checker.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <string>

#include "aiproxy/common/asio.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::upstream {
namespace {

namespace net = common::net;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::awaitable;
using common::error_code;
using common::tcp;
using common::use_nothrow;

// Intervals are validated to be positive; this only keeps a zero from becoming a busy loop.
constexpr std::chrono::milliseconds kMinInterval{10};
constexpr std::uint32_t kProbeHeaderLimit = 16 * 1024;

struct ProbeResult {
    enum class Kind { Status, Connected, Failure } kind = Kind::Failure;
    int status = 0;
    FailureKind failure = FailureKind::Tcp;
    std::string detail;
};

bool isTimeout(const error_code& ec) {
    return ec == beast::error::timeout || ec == net::error::timed_out;
}

ProbeResult failure(const error_code& ec, std::string_view what) {
    return ProbeResult{.failure = isTimeout(ec) ? FailureKind::Timeout : FailureKind::Tcp,
                       .detail = std::string(what) + ": " + ec.message()};
}

bool isIpLiteral(const std::string& host) {
    error_code ec;
    net::ip::make_address(host, ec);
    return !ec;
}

std::string_view headerName(std::string_view line) {
    return line.substr(0, line.find(':'));
}

bool sameName(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

bool safeHeaderText(std::string_view text) {
    return text.find_first_of("\r\n") == std::string_view::npos;
}

// One node's probe loop. Shared between the checker (to stop it) and its coroutine.
struct ProbeLoop {
    ProbeLoop(net::io_context& io, std::shared_ptr<UpstreamRuntime> owner, std::size_t index)
        : runtime(std::move(owner)), node(index), timer(io), resolver(io) {}

    void stop() {
        stopped = true;
        timer.cancel();
        resolver.cancel();
        if (active) active->cancel();
    }

    std::shared_ptr<UpstreamRuntime> runtime;
    std::size_t node;
    config::ActiveCheckConfig check;
    std::string connect_host;
    std::uint16_t port = 0;
    std::string server_name;  // SNI and certificate name
    std::string request;      // empty for tcp probes
    std::shared_ptr<ssl::context> tls;
    net::steady_timer timer;
    tcp::resolver resolver;
    beast::tcp_stream* active = nullptr;  // the running probe's connection, to cancel it
    bool stopped = false;
};

// Points loop.active at a probe's connection for as long as the probe runs.
class ActiveConnection {
public:
    ActiveConnection(ProbeLoop& loop, beast::tcp_stream& stream) : loop_(loop) {
        loop_.active = &stream;
    }
    ~ActiveConnection() { loop_.active = nullptr; }
    ActiveConnection(const ActiveConnection&) = delete;
    ActiveConnection& operator=(const ActiveConnection&) = delete;

private:
    ProbeLoop& loop_;
};

std::string probeRequest(const config::ActiveCheckConfig& check, const std::string& host_header,
                         const config::StringPairs& extra_headers) {
    bool has_host = false;
    bool has_agent = false;
    for (const auto& line : check.req_headers) {
        has_host = has_host || sameName(headerName(line), "host");
        has_agent = has_agent || sameName(headerName(line), "user-agent");
    }
    std::string head = check.http_method + " " + check.http_path + " HTTP/1.1\r\n";
    if (!has_host) head += "Host: " + host_header + "\r\n";
    for (const auto& line : check.req_headers) {
        if (safeHeaderText(line)) head += line + "\r\n";
    }
    for (const auto& [name, value] : extra_headers) {
        if (safeHeaderText(name) && safeHeaderText(value)) head += name + ": " + value + "\r\n";
    }
    if (!has_agent) head += "User-Agent: aiproxy-health-check\r\n";
    head += "Connection: close\r\n\r\n";
    return head;
}

template <class Stream>
awaitable<ProbeResult> askStatus(Stream& stream, const std::string& request) {
    auto [write_ec, written] = co_await net::async_write(stream, net::buffer(request), use_nothrow);
    if (write_ec) co_return failure(write_ec, "sending the probe failed");
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.header_limit(kProbeHeaderLimit);
    auto [read_ec, read] = co_await bhttp::async_read_header(stream, buffer, parser, use_nothrow);
    if (read_ec) co_return failure(read_ec, "reading the probe's response failed");
    co_return ProbeResult{.kind = ProbeResult::Kind::Status,
                          .status = static_cast<int>(parser.get().result_int())};
}

awaitable<ProbeResult> probeOnce(ProbeLoop& loop) {
    auto executor = co_await net::this_coro::executor;
    auto deadline = std::chrono::steady_clock::now() + loop.check.timeout;
    tcp::resolver::results_type endpoints;
    error_code not_literal;
    auto address = net::ip::make_address(loop.connect_host, not_literal);
    if (!not_literal) {
        endpoints = tcp::resolver::results_type::create(
            tcp::endpoint{address, loop.port}, loop.connect_host, std::to_string(loop.port));
    } else {
        auto [resolve_ec, results] = co_await loop.resolver.async_resolve(
            loop.connect_host, std::to_string(loop.port), use_nothrow);
        if (resolve_ec) co_return failure(resolve_ec, "cannot resolve " + loop.connect_host);
        endpoints = std::move(results);
    }

    beast::tcp_stream stream{executor};
    std::optional<ActiveConnection> active{std::in_place, loop, stream};
    stream.expires_at(deadline);
    auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, use_nothrow);
    if (connect_ec) co_return failure(connect_ec, "connect failed");
    if (loop.check.type == "tcp") co_return ProbeResult{.kind = ProbeResult::Kind::Connected};
    if (!loop.tls) co_return co_await askStatus(stream, loop.request);

    active.reset();
    beast::ssl_stream<beast::tcp_stream> tls{std::move(stream), *loop.tls};
    ActiveConnection tls_active{loop, tls.next_layer()};
    if (!isIpLiteral(loop.server_name) &&
        !SSL_set_tlsext_host_name(tls.native_handle(), loop.server_name.c_str())) {
        co_return ProbeResult{.detail = "cannot set SNI " + loop.server_name};
    }
    if (loop.check.https_verify_certificate) {
        tls.set_verify_callback(ssl::host_name_verification(loop.server_name));
    }
    auto [handshake_ec] = co_await tls.async_handshake(ssl::stream_base::client, use_nothrow);
    if (handshake_ec) co_return failure(handshake_ec, "TLS handshake failed");
    co_return co_await askStatus(tls, loop.request);
}

awaitable<void> runLoop(std::shared_ptr<ProbeLoop> loop) {
    while (!loop->stopped) {
        ProbeResult result = co_await probeOnce(*loop);
        if (loop->stopped) break;
        auto& health = loop->runtime->node(loop->node).health();
        auto now = Clock::now();
        switch (result.kind) {
            case ProbeResult::Kind::Status:
                health.recordProbeStatus(result.status, now);
                break;
            case ProbeResult::Kind::Connected:
                health.recordProbeSuccess(now);
                break;
            case ProbeResult::Kind::Failure:
                health.recordProbeFailure(result.failure, result.detail, now);
                break;
        }
        auto interval =
            health.probeUnhealthy() ? loop->check.unhealthy.interval : loop->check.healthy.interval;
        loop->timer.expires_after(std::max(interval, kMinInterval));
        co_await loop->timer.async_wait(use_nothrow);
    }
}

std::shared_ptr<ssl::context> makeTlsContext(bool verify) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
    error_code ignored;  // without a trust store every verified probe fails, which is reported
    context->set_default_verify_paths(ignored);
    context->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
    return context;
}

}  // namespace

struct ActiveHealthChecker::Impl {
    struct Entry {
        ActiveCheckTarget target;
        std::vector<std::shared_ptr<ProbeLoop>> loops;
    };

    explicit Impl(net::io_context& context) : io(context) {}

    std::shared_ptr<ssl::context> tlsContext(bool verify) {
        auto& slot = verify ? tls_verify : tls_no_verify;
        if (!slot) slot = makeTlsContext(verify);
        return slot;
    }

    Entry start(ActiveCheckTarget target) {
        Entry entry{.target = std::move(target), .loops = {}};
        const auto& runtime = entry.target.runtime;
        const auto& check = *runtime->checks().active;
        bool https = check.type == "https";
        for (std::size_t i = 0; i < runtime->size(); ++i) {
            const auto& node = runtime->nodes()[i];
            if (node.weight <= 0) continue;  // never picked, so never worth a probe
            auto loop = std::make_shared<ProbeLoop>(io, runtime, i);
            loop->check = check;
            loop->connect_host = node.host;
            loop->port = check.port != 0 ? check.port : node.port;
            loop->server_name = check.host.empty() ? node.host : check.host;
            std::string host_header = loop->server_name.find(':') != std::string::npos
                                          ? "[" + loop->server_name + "]"
                                          : loop->server_name;
            if (loop->port != (https ? 443 : 80)) host_header += ":" + std::to_string(loop->port);
            if (check.type != "tcp") {
                loop->request = probeRequest(check, host_header, entry.target.extra_headers);
            }
            if (https) loop->tls = tlsContext(check.https_verify_certificate);
            net::co_spawn(io, runLoop(loop), net::detached);
            entry.loops.push_back(std::move(loop));
        }
        return entry;
    }

    static void stop(Entry& entry) {
        for (auto& loop : entry.loops)
            loop->stop();
        entry.loops.clear();
    }

    net::io_context& io;
    std::shared_ptr<ssl::context> tls_verify;
    std::shared_ptr<ssl::context> tls_no_verify;
    std::vector<Entry> entries;
};

ActiveHealthChecker::ActiveHealthChecker(net::io_context& io) : impl_(std::make_unique<Impl>(io)) {}

ActiveHealthChecker::~ActiveHealthChecker() {
    stop();
}

void ActiveHealthChecker::update(std::vector<ActiveCheckTarget> targets) {
    std::vector<Impl::Entry> next;
    for (auto& target : targets) {
        if (!target.runtime || !target.runtime->checks().active) continue;
        auto same = std::find_if(impl_->entries.begin(), impl_->entries.end(),
                                 [&target](const Impl::Entry& entry) {
                                     return entry.target.runtime == target.runtime &&
                                            entry.target.extra_headers == target.extra_headers;
                                 });
        if (same != impl_->entries.end()) {
            next.push_back(std::move(*same));
            impl_->entries.erase(same);
        } else {
            next.push_back(impl_->start(std::move(target)));
        }
    }
    for (auto& entry : impl_->entries)
        Impl::stop(entry);
    impl_->entries = std::move(next);
}

void ActiveHealthChecker::stop() {
    for (auto& entry : impl_->entries)
        Impl::stop(entry);
    impl_->entries.clear();
}

std::size_t ActiveHealthChecker::loops() const {
    std::size_t count = 0;
    for (const auto& entry : impl_->entries)
        count += entry.loops.size();
    return count;
}

}  // namespace aiproxy::upstream
