#include "aiproxy/admin/status_server.hpp"

#include "aiproxy/admin/status_page.hpp"
#include "listen_socket.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace aiproxy::admin {
namespace {

namespace net = common::net;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::tcp;
using common::use_nothrow;
constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;

bhttp::response<bhttp::string_body> answer(const bhttp::request<bhttp::empty_body>& request,
                                           const observe::MetricsRegistry& registry,
                                           const StatusState& state,
                                           const StatusServer::StatusJson& status_json) {
    bhttp::response<bhttp::string_body> response{bhttp::status::ok, request.version()};
    response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    std::string_view target = request.target();
    target = target.substr(0, target.find('?'));
    bool read_only = request.method() == bhttp::verb::get || request.method() == bhttp::verb::head;
    if (!read_only) {
        response.result(bhttp::status::method_not_allowed);
        response.set(bhttp::field::allow, "GET, HEAD");
        response.body() = "method not allowed\n";
    } else if (target == "/metrics") {
        response.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        response.body() = registry.render();
    } else if (target == "/" && status_json) {
        response.set(bhttp::field::content_type, kStatusPageContentType);
        response.set("Content-Security-Policy", kStatusPageSecurityPolicy);
        response.set(bhttp::field::cache_control, "no-store");
        response.body() = statusPageHtml();
    } else if (target == "/status.json" && status_json) {
        response.set(bhttp::field::content_type, "application/json");
        response.set(bhttp::field::cache_control, "no-store");
        response.body() = status_json();
    } else if (target == "/healthz") {
        response.body() = "ok\n";
    } else if (target == "/readyz") {
        if (state.draining.load()) {
            response.result(bhttp::status::service_unavailable);
            response.body() = "draining\n";
        } else if (!state.ready.load()) {
            response.result(bhttp::status::service_unavailable);
            response.body() = "starting\n";
        } else {
            response.body() = "ready\n";
        }
    } else {
        response.result(bhttp::status::not_found);
        response.body() = "not found: try /, /status.json, /metrics, /healthz or /readyz\n";
    }
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    if (request.method() == bhttp::verb::head) response.body().clear();
    return response;
}

}  // namespace

struct StatusServer::Impl {
    detail::ListenSocket listener;
    const observe::MetricsRegistry& registry;
    const StatusState& state;
    StatusServer::StatusJson status_json;

    net::awaitable<void> session(tcp::socket socket) {
        beast::tcp_stream stream{std::move(socket)};
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request_parser<bhttp::empty_body> parser;
            parser.header_limit(kMaxHeaderBytes);
            parser.body_limit(0);
            stream.expires_after(kReadTimeout);
            auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, use_nothrow);
            if (ec) co_return;
            auto response = answer(parser.get(), registry, state, status_json);
            bool keep_alive = response.keep_alive();
            stream.expires_after(kReadTimeout);
            auto [write_ec, written] = co_await bhttp::async_write(stream, response, use_nothrow);
            if (write_ec || !keep_alive) co_return;
        }
    }
};

StatusServer::StatusServer(net::io_context& context, const std::string& host, std::uint16_t port,
                           const observe::MetricsRegistry& registry, const StatusState& state,
                           StatusJson status_json) {
    impl_ = std::make_unique<Impl>(Impl{detail::ListenSocket{context, host, port, "status"},
                                        registry, state, std::move(status_json)});
}

StatusServer::~StatusServer() = default;

std::uint16_t StatusServer::port() const {
    return impl_->listener.port();
}

void StatusServer::start() {
    impl_->listener.start([this](tcp::socket socket) { return impl_->session(std::move(socket)); });
}

void StatusServer::stop() {
    impl_->listener.stop();
}

}  // namespace aiproxy::admin
