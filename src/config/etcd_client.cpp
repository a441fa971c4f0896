#include "etcd_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace aiproxy::config::etcd {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::awaitable;
using common::tcp;
using common::use_nothrow;

constexpr std::uint64_t kMaxAnswerBytes = std::uint64_t{256} << 20;
constexpr std::size_t kMaxWatchMessageBytes = std::size_t{256} << 20;

std::string describe(const std::string& host, const std::string& port) {
    return "etcd at " + host + ":" + port;
}

}  // namespace

EtcdClient::EtcdClient(common::net::any_io_executor executor, EtcdConfig settings)
    : executor_(std::move(executor)), settings_(std::move(settings)) {
    for (const auto& url : settings_.endpoints) {  // http://host:port, checked by the schema
        std::string_view rest{url};
        rest.remove_prefix(std::string_view{"http://"}.size());
        while (!rest.empty() && rest.back() == '/')
            rest.remove_suffix(1);
        auto colon = rest.rfind(':');
        std::string host{rest.substr(0, colon)};
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        endpoints_.push_back({host, std::string{rest.substr(colon + 1)}});
    }
}

namespace {

// Connects to the first endpoint that answers, starting at `current` (moved along on failure).
template <class Endpoints>
awaitable<std::string> open(beast::tcp_stream& stream, Endpoints& endpoints, std::size_t& current,
                            std::chrono::milliseconds timeout) {
    std::string last_error = "no endpoint";
    for (std::size_t tries = 0; tries < endpoints.size(); ++tries) {
        const auto& endpoint = endpoints[current];
        tcp::resolver resolver{stream.get_executor()};
        auto [resolve_ec, results] =
            co_await resolver.async_resolve(endpoint.host, endpoint.port, use_nothrow);
        if (!resolve_ec) {
            stream.expires_after(timeout);
            auto [connect_ec, connected] = co_await stream.async_connect(results, use_nothrow);
            if (!connect_ec) co_return std::string{};
            last_error = describe(endpoint.host, endpoint.port) + ": " + connect_ec.message();
        } else {
            last_error = describe(endpoint.host, endpoint.port) + ": " + resolve_ec.message();
        }
        current = (current + 1) % endpoints.size();
    }
    co_return last_error;
}

bhttp::request<bhttp::string_body> post(const std::string& host, const std::string& path,
                                        std::string body, const std::string& token) {
    bhttp::request<bhttp::string_body> request{bhttp::verb::post, path, 11};
    request.set(bhttp::field::host, host);
    request.set(bhttp::field::content_type, "application/json");
    if (!token.empty()) request.set(bhttp::field::authorization, token);
    request.body() = std::move(body);
    request.prepare_payload();
    return request;
}

}  // namespace

awaitable<Reply> EtcdClient::exchange(const std::string& path, const std::string& body,
                                      bool with_token) {
    beast::tcp_stream stream{executor_};
    if (auto error = co_await open(stream, endpoints_, current_, settings_.timeout);
        !error.empty()) {
        co_return Reply{.error = std::move(error)};
    }
    const auto& endpoint = endpoints_[current_];
    std::string where = describe(endpoint.host, endpoint.port);
    auto request = post(endpoint.host, path, body, with_token ? token_ : std::string{});
    stream.expires_after(settings_.timeout);
    auto [write_ec, written] = co_await bhttp::async_write(stream, request, use_nothrow);
    if (write_ec) co_return Reply{.error = where + ": " + write_ec.message()};
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser, use_nothrow);
    if (read_ec == beast::error::timeout) {
        co_return Reply{.error = where + " did not answer within " +
                                 std::to_string(settings_.timeout.count()) + " ms"};
    }
    if (read_ec) co_return Reply{.error = where + ": " + read_ec.message()};
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    auto& response = parser.get();
    if (response.result() != bhttp::status::ok) {
        co_return Reply{.body = std::move(response.body()),
                        .error = where + " answered " + std::to_string(response.result_int()) +
                                 ": " + errorText(response.body())};
    }
    co_return Reply{.ok = true, .body = std::move(response.body())};
}

awaitable<std::optional<std::string>> EtcdClient::authenticate() {
    const std::string path = "/v3/auth/authenticate";
    const std::string body = authenticateRequest(settings_.user, settings_.password);
    auto reply = co_await exchange(path, body, false);
    if (!reply.ok) co_return "authentication failed: " + reply.error;
    std::string error;
    auto token = parseToken(reply.body, error);
    if (!token) co_return "authentication failed: " + error;
    token_ = std::move(*token);
    co_return std::nullopt;
}

awaitable<Reply> EtcdClient::call(std::string path, std::string body) {
    bool auth = !settings_.user.empty();
    if (auth && token_.empty()) {
        if (auto error = co_await authenticate()) co_return Reply{.error = std::move(*error)};
    }
    auto reply = co_await exchange(path, body, auth);
    if (!reply.ok && auth && isAuthError(reply.body)) {  // the token expired: once more
        token_.clear();
        if (auto error = co_await authenticate()) co_return Reply{.error = std::move(*error)};
        reply = co_await exchange(path, body, true);
    }
    co_return reply;
}

void EtcdClient::cancelWatch() {
    if (cancel_watch_) cancel_watch_();
}

awaitable<std::string> EtcdClient::watch(
    std::uint64_t start_revision, const std::function<bool(const WatchMessage&)>& on_message) {
    bool auth = !settings_.user.empty();
    if (auth && token_.empty()) {
        if (auto error = co_await authenticate()) co_return std::move(*error);
    }
    beast::tcp_stream stream{executor_};
    if (auto error = co_await open(stream, endpoints_, current_, settings_.timeout);
        !error.empty()) {
        co_return error;
    }
    const auto& endpoint = endpoints_[current_];
    std::string where = describe(endpoint.host, endpoint.port);
    cancel_watch_ = [&stream] {
        boost::system::error_code ignored;
        stream.socket().close(ignored);
    };
    struct Reset {
        std::function<void()>& cancel;
        ~Reset() { cancel = nullptr; }
    } reset{cancel_watch_};

    auto request = post(endpoint.host, "/v3/watch", watchRequest(settings_.prefix, start_revision),
                        auth ? token_ : std::string{});
    stream.expires_after(settings_.timeout);
    auto [write_ec, written] = co_await bhttp::async_write(stream, request, use_nothrow);
    if (write_ec) co_return where + ": " + write_ec.message();
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);  // a stream: each message is bounded below
    auto [head_ec, head] = co_await bhttp::async_read_header(stream, buffer, parser, use_nothrow);
    if (head_ec) co_return where + ": " + head_ec.message();
    if (parser.get().result() != bhttp::status::ok) {
        if (auth) token_.clear();  // perhaps expired: the next attempt authenticates again
        co_return where + " refused the watch with " + std::to_string(parser.get().result_int());
    }
    std::string pending;
    bool created = false;
    std::array<char, 16384> chunk{};
    for (;;) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        if (created) {
            stream.expires_never();
        } else {
            stream.expires_after(settings_.timeout);
        }
        auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, use_nothrow);
        if (ec == bhttp::error::need_buffer) ec = {};
        pending.append(chunk.data(), chunk.size() - parser.get().body().size);
        std::size_t newline;
        while ((newline = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, newline);
            pending.erase(0, newline + 1);
            if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
            std::string error;
            auto message = parseWatchMessage(line, error);
            if (!message) co_return where + ": " + error;
            created = created || message->created;
            if (!on_message(*message)) co_return std::string{"the watch was canceled"};
        }
        if (pending.size() > kMaxWatchMessageBytes)
            co_return where + ": a watch message is too large";
        if (ec == beast::error::timeout) co_return where + " did not confirm the watch in time";
        if (ec == bhttp::error::end_of_stream || ec == boost::asio::error::eof) {
            co_return where + " closed the watch";
        }
        if (ec) co_return where + ": " + ec.message();
        if (parser.is_done()) co_return where + " ended the watch";
    }
}

}  // namespace aiproxy::config::etcd
