#include "aiproxy/admin/admin_server.hpp"

#include "aiproxy/admin/status_page.hpp"
#include "aiproxy/common/ascii.hpp"
#include "listen_socket.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

namespace aiproxy::admin {
namespace {

namespace net = common::net;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::tcp;
using common::use_nothrow;
constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;
// After refusing a request whose body is still arriving, read and drop this much more before
// closing, so the client gets to read the answer instead of a connection reset.
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);

bhttp::response<bhttp::string_body> jsonResponse(
    unsigned status, std::string body, unsigned version, bool keep_alive,
    std::string_view content_type = "application/json") {
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status), version};
    response.set(bhttp::field::content_type, content_type);
    if (content_type == kStatusPageContentType) {
        response.set("Content-Security-Policy", kStatusPageSecurityPolicy);
        response.set(bhttp::field::cache_control, "no-store");
    }
    response.set("X-API-VERSION", "v3");
    response.set(bhttp::field::server, "aiproxyd");
    response.body() = std::move(body);
    response.keep_alive(keep_alive);
    response.prepare_payload();
    return response;
}

// Waits, without blocking the thread, for an answer the store gives later (an etcd commit): a
// timer that never expires serves as the signal, cancelled when the answer is in. `pending` by
// reference: GCC 12 destroys a coroutine's by-value std::function parameter twice.
net::awaitable<AdminResponse> awaitAnswer(const std::function<void(AdminReply)>& pending) {
    struct Wait {
        explicit Wait(const net::any_io_executor& executor)
            : signal(executor, net::steady_timer::time_point::max()) {}
        net::steady_timer signal;
        std::optional<AdminResponse> answer;
    };
    auto executor = co_await net::this_coro::executor;
    auto wait = std::make_shared<Wait>(executor);
    AdminReply deliver = [wait](AdminResponse answer) {
        wait->answer = std::move(answer);
        wait->signal.cancel();
    };
    pending(deliver);
    while (!wait->answer) {
        co_await wait->signal.async_wait(use_nothrow);
    }
    co_return std::move(*wait->answer);
}

}  // namespace

AuthFailureLimiter::AuthFailureLimiter(Settings settings) : settings_(settings) {}

std::chrono::seconds AuthFailureLimiter::blockedFor(const std::string& address,
                                                    Clock::time_point now) const {
    auto it = entries_.find(address);
    if (it == entries_.end() || it->second.failures < settings_.max_failures) {
        return std::chrono::seconds(0);
    }
    auto left = it->second.window_start + settings_.window - now;
    if (left <= Clock::duration::zero()) return std::chrono::seconds(0);
    return std::chrono::ceil<std::chrono::seconds>(left);
}

bool AuthFailureLimiter::recordFailure(const std::string& address, Clock::time_point now) {
    dropExpired(now);
    auto it = entries_.find(address);
    if (it == entries_.end()) {
        if (settings_.max_tracked == 0) return false;
        if (entries_.size() >= settings_.max_tracked) {
            entries_.erase(order_.front());
            order_.pop_front();
        }
        order_.push_back(address);
        it = entries_.emplace(address, Entry{.window_start = now}).first;
    }
    return ++it->second.failures == settings_.max_failures;
}

// Windows all have the same length, so the oldest start is the first to expire.
void AuthFailureLimiter::dropExpired(Clock::time_point now) {
    while (!order_.empty()) {
        auto it = entries_.find(order_.front());
        if (now - it->second.window_start < settings_.window) break;
        entries_.erase(it);
        order_.pop_front();
    }
}

struct AdminServer::Impl {
    detail::ListenSocket listener;
    std::vector<common::Cidr> allow;
    AdminApi& api;
    AuthFailureLimiter auth_failures;

    // Half-closes and drains, bounded in bytes and time (nginx's lingering close).
    static net::awaitable<void> lingeringClose(beast::tcp_stream& stream) {
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(kLingerTime);
        std::array<char, 16 * 1024> sink{};
        std::size_t drained = 0;
        while (drained < kLingerBytes) {
            auto [ec, n] = co_await stream.async_read_some(net::buffer(sink), use_nothrow);
            if (ec) break;
            drained += n;
        }
    }

    static net::awaitable<void> refuseTooLarge(beast::tcp_stream& stream, unsigned version) {
        auto response = jsonResponse(
            400, R"({"error_msg":"request body too large: the limit is 1572864 bytes"})", version,
            false);
        co_await bhttp::async_write(stream, response, use_nothrow);
        co_await lingeringClose(stream);
    }

    net::awaitable<void> session(tcp::socket socket) {
        beast::tcp_stream stream{std::move(socket)};
        boost::system::error_code endpoint_error;
        auto remote = stream.socket().remote_endpoint(endpoint_error);
        if (endpoint_error) co_return;
        bool allowed = common::anyContains(allow, remote.address());
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(kMaxHeaderBytes);
            parser.body_limit(kMaxAdminBodyBytes);
            stream.expires_after(kReadTimeout);
            auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, use_nothrow);
            if (ec == bhttp::error::body_limit) {  // a Content-Length over the limit
                co_await refuseTooLarge(stream, 11);
                co_return;
            }
            if (ec) co_return;
            const auto& header = parser.get();
            if (!allowed) {
                spdlog::warn("admin: refused {} {} from {} (not in admin.allow)",
                             std::string{header.method_string()},
                             std::string{header.target().substr(0, header.target().find('?'))},
                             remote.address().to_string());
                auto response = jsonResponse(
                    403,
                    R"x({"error_msg":"access from this address is not allowed (admin.allow)"})x",
                    header.version(), false);
                co_await bhttp::async_write(stream, response, use_nothrow);
                co_await lingeringClose(stream);
                co_return;
            }
            if (common::equalsIgnoreCase(header[bhttp::field::expect], "100-continue")) {
                bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
                auto [write_ec, written] = co_await bhttp::async_write(stream, go_on, use_nothrow);
                if (write_ec) co_return;
            }
            if (!parser.is_done()) {
                auto [body_ec, body_n] =
                    co_await bhttp::async_read(stream, buffer, parser, use_nothrow);
                if (body_ec == bhttp::error::body_limit) {
                    co_await refuseTooLarge(stream, header.version());
                    co_return;
                }
                if (body_ec) co_return;
            }
            auto& request = parser.get();
            const std::string address = remote.address().to_string();
            if (auto wait = auth_failures.blockedFor(address, AuthFailureLimiter::Clock::now());
                wait.count() > 0) {
                auto response =
                    jsonResponse(429, R"({"error_msg":"too many failed authentication attempts"})",
                                 request.version(), request.keep_alive());
                response.set(bhttp::field::retry_after, std::to_string(wait.count()));
                stream.expires_after(kReadTimeout);
                auto [write_ec, written] =
                    co_await bhttp::async_write(stream, response, use_nothrow);
                if (write_ec || !request.keep_alive()) co_return;
                continue;
            }
            AdminRequest admin_request{
                .method = std::string{request.method_string()},
                .target = std::string{request.target()},
                .x_api_key = std::string{request["X-API-KEY"]},
                .cookie = std::string{request[bhttp::field::cookie]},
                .body = std::move(request.body()),
            };
            AdminResponse answer = api.handle(admin_request);
            if (answer.pending) {
                auto pending = std::move(answer.pending);
                answer = co_await awaitAnswer(pending);
            }
            if (answer.status == 401 &&  // AdminApi answers 401 for a missing or wrong key only
                auth_failures.recordFailure(address, AuthFailureLimiter::Clock::now())) {
                spdlog::warn(
                    "admin: {} blocked for {} s after {} failed authentications", address,
                    auth_failures.blockedFor(address, AuthFailureLimiter::Clock::now()).count(),
                    auth_failures.settings().max_failures);
            }
            if (admin_request.method != "GET") {
                // Never the key or the body: they may hold secrets.
                spdlog::info("admin: {} {} -> {}", admin_request.method,
                             admin_request.target.substr(0, admin_request.target.find('?')),
                             answer.status);
            }
            bool keep_alive = request.keep_alive();
            auto response = jsonResponse(answer.status, std::move(answer.body), request.version(),
                                         keep_alive, answer.content_type);
            if (request.method() == bhttp::verb::head) response.body().clear();
            stream.expires_after(kReadTimeout);
            auto [write_ec, written] = co_await bhttp::async_write(stream, response, use_nothrow);
            if (write_ec || !keep_alive) co_return;
        }
    }
};

AdminServer::AdminServer(net::io_context& context, const std::string& host, std::uint16_t port,
                         std::vector<common::Cidr> allow, AdminApi& api,
                         AuthFailureLimiter::Settings auth_failure_limit) {
    impl_ =
        std::make_unique<Impl>(Impl{detail::ListenSocket{context, host, port, "admin"},
                                    std::move(allow), api, AuthFailureLimiter{auth_failure_limit}});
}

AdminServer::~AdminServer() = default;

std::uint16_t AdminServer::port() const {
    return impl_->listener.port();
}

void AdminServer::start() {
    impl_->listener.start([this](tcp::socket socket) { return impl_->session(std::move(socket)); });
}

void AdminServer::stop() {
    impl_->listener.stop();
}

}  // namespace aiproxy::admin
