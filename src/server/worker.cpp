#include "aiproxy/server/worker.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "aiproxy/http/json_error.hpp"
#include "aiproxy/http/listener.hpp"

namespace aiproxy::server {

namespace net = boost::asio;

Worker::Worker(unsigned index, const http::SessionLimits& limits, std::size_t max_connections,
               std::atomic<std::size_t>& open_connections)
    : index_(index),
      work_(io_.get_executor()),
      limits_(limits),
      max_connections_(max_connections),
      open_connections_(open_connections),
      dns_(io_.get_executor()),
      random_(std::random_device{}() ^ (static_cast<std::uint64_t>(index) << 32)) {}

Worker::~Worker() {
    stop();
}

void Worker::addAcceptor(http::tcp::acceptor acceptor) {
    acceptors_.push_back(std::make_unique<http::tcp::acceptor>(std::move(acceptor)));
}

void Worker::start(std::shared_ptr<const Snapshot> snapshot) {
    applySnapshot(std::move(snapshot));
    http::SessionContext context{.limits = limits_,
                                 .handler = *this,
                                 .tracker = tracker_,
                                 .open_connections = open_connections_};
    for (auto& acceptor : acceptors_) {
        net::co_spawn(io_,
                      http::acceptLoop(*acceptor, context, {.max_connections = max_connections_}),
                      net::detached);
    }
    thread_ = std::thread([this] {
        io_.run();
        spdlog::debug("worker {} stopped", index_);
    });
}

void Worker::post(std::shared_ptr<const Snapshot> snapshot) {
    net::post(io_, [this, snapshot = std::move(snapshot)]() mutable {
        applySnapshot(std::move(snapshot));
    });
}

void Worker::applySnapshot(std::shared_ptr<const Snapshot> snapshot) {
    balancers_.rebuild(snapshot->upstreams);
    snapshot_ = std::move(snapshot);
}

void Worker::drain(std::function<void()> on_drained) {
    net::post(io_, [this, on_drained = std::move(on_drained)]() mutable {
        for (auto& acceptor : acceptors_) {
            http::error_code ignored;
            acceptor->close(ignored);
        }
        tracker_.on_drained = std::move(on_drained);
        tracker_.startDrain();
    });
}

void Worker::stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
}

std::string Worker::newRequestId() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    std::uint64_t high = random_();
    std::uint64_t low = random_();
    for (int i = 0; i < 16; ++i) {
        id[i] = kHex[(high >> (i * 4)) & 0xf];
        id[16 + i] = kHex[(low >> (i * 4)) & 0xf];
    }
    return id;
}

http::awaitable<void> Worker::handle(http::ClientRequest& request, http::ResponseSink& sink) {
    // The request finishes on the snapshot it started with, whatever is posted meanwhile.
    std::shared_ptr<const Snapshot> snapshot = snapshot_;
    auto host = request.message[http::bhttp::field::host];
    auto match = snapshot->routes.match(request.message.method_string(), host, request.path);
    if (!match) {
        auto message = "no route matches " + std::string(request.message.method_string()) + " " +
                       std::string(request.path);
        auto response =
            http::jsonErrorResponse(404, message, "invalid_request_error", "route_not_found");
        response.set("X-Request-Id", request.request_id);
        co_await sink.send(std::move(response));
        co_return;
    }
    const auto& route = snapshot->ai_routes[match->route_index];
    if (!route.primary) {  // validation requires a terminal stage; never crash if it slips
        co_await sink.send(
            http::jsonErrorResponse(500, "route " + route.route_id + " has no terminal stage",
                                    "server_error", "route_misconfigured"));
        co_return;
    }
    ai::ForwardPath forward{.prefix = match->prefix, .rest = match->rest};
    co_await ai::proxyRequest(route, forward, request, sink, services_);
}

}  // namespace aiproxy::server
