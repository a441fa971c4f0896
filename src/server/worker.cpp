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
               std::atomic<std::size_t>& open_connections, const ServerMetrics* metrics)
    : index_(index),
      work_(io_.get_executor()),
      limits_(limits),
      max_connections_(max_connections),
      open_connections_(open_connections),
      dns_(io_.get_executor()),
      metrics_(metrics),
      services_{.pool = pool_,
                .dns = dns_,
                .balancers = balancers_,
                .metrics_slot = index,
                .metrics = metrics ? &metrics->data_path : nullptr},
      random_(std::random_device{}() ^ (static_cast<std::uint64_t>(index) << 32)) {
    if (metrics_) pool_.setIdleGauge(metrics_->data_path.connections_idle, index_);
}

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

namespace {

std::size_t statusClassIndex(unsigned status) {
    return status >= 100 && status < 600 ? status / 100 - 1 : 4;
}

}  // namespace

http::awaitable<void> Worker::handle(http::ClientRequest& request, http::ResponseSink& sink) {
    auto started = std::chrono::steady_clock::now();
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
        if (metrics_ && metrics_->unrouted) metrics_->unrouted->add(index_);
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
    auto result = co_await ai::proxyRequest(route, forward, request, sink, services_);
    recordRequest(route, result, sink, started);
}

void Worker::recordRequest(const ai::AiProxyRoute& route, const ai::ProxyResult& result,
                           const http::ResponseSink& sink,
                           std::chrono::steady_clock::time_point started) {
    if (!metrics_) return;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto& cells = route.metrics;
    std::size_t upstream =
        result.upstream_id && route.fallback && *result.upstream_id == route.fallback->id() ? 1 : 0;
    if (auto* cell = cells.requests[upstream][statusClassIndex(sink.status())]) cell->add(index_);
    if (cells.duration) cells.duration->observe(index_, seconds);
    if (result.time_to_first_token && cells.time_to_first_token) {
        cells.time_to_first_token->observe(index_, *result.time_to_first_token);
    }
    const auto& data_path = metrics_->data_path;
    if (result.stream != ai::StreamOutcome::None) {
        auto* cell = data_path.stream_outcomes[static_cast<std::size_t>(result.stream) - 1];
        if (cell) cell->add(index_);
    }
    if (data_path.overhead) {
        data_path.overhead->observe(index_, std::max(0.0, seconds - result.upstream_seconds));
    }
}

}  // namespace aiproxy::server
