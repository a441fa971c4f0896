#include "aiproxy/server/worker.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unordered_set>

#include "aiproxy/http/listener.hpp"
#include "request_flow.hpp"

namespace aiproxy::server {

namespace net = boost::asio;

Worker::Worker(unsigned index, const http::SessionLimits& limits, std::size_t max_connections,
               std::atomic<std::size_t>& open_connections, const ServerMetrics* metrics,
               http::TlsContextHolder* tls)
    : index_(index),
      work_(io_.get_executor()),
      limits_(limits),
      max_connections_(max_connections),
      open_connections_(open_connections),
      tls_(tls),
      dns_(io_.get_executor()),
      services_(io_.get_executor(), index, pool_, dns_, balancers_,
                metrics ? &metrics->data_path : nullptr,
                metrics ? metrics->data_path_log : nullptr),
      random_(std::random_device{}() ^ (static_cast<std::uint64_t>(index) << 32)),
      access_log_(io_.get_executor(), metrics ? metrics->access_log : nullptr),
      flow_(std::make_unique<RequestFlow>(metrics, services_, access_log_)) {
    if (metrics) pool_.setIdleGauge(metrics->data_path.connections_idle, index_);
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
                                 .open_connections = open_connections_,
                                 .tls = tls_};
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

void Worker::post(std::shared_ptr<const Snapshot> snapshot, std::function<void()> applied) {
    net::post(io_, [this, snapshot = std::move(snapshot), applied = std::move(applied)]() mutable {
        applySnapshot(std::move(snapshot));
        if (applied) applied();
    });
}

void Worker::applySnapshot(std::shared_ptr<const Snapshot> snapshot) {
    balancers_.rebuild(snapshot->balanced_sets);
    // Idle connections and DNS answers of nodes that left the configuration go now.
    std::unordered_set<std::string> pool_keys;
    std::unordered_set<std::string> addresses;
    for (const auto* set : snapshot->balanced_sets) {
        for (const auto& member : set->members) {
            const auto& node = member.upstream->nodes()[member.node];
            pool_keys.insert(upstream::poolKey(*member.upstream, node));
            addresses.insert(node.host + ":" + std::to_string(node.port));
        }
    }
    pool_.retain(pool_keys);
    dns_.retain(addresses);
    snapshot_ = std::move(snapshot);
}

void Worker::drain(std::function<void()> on_drained, std::function<void()> on_started) {
    net::post(io_, [this, on_drained = std::move(on_drained),
                    on_started = std::move(on_started)]() mutable {
        for (auto& acceptor : acceptors_) {
            http::error_code ignored;
            acceptor->close(ignored);
        }
        tracker_.on_drained = std::move(on_drained);
        tracker_.startDrain();
        if (on_started) on_started();
    });
}

void Worker::stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
    // Requests and streams still open after the drain end here, on this thread, while
    // everything their coroutines refer to is alive.
    io_.abandonPendingWork();
    access_log_.flush();  // the thread is gone: nothing else touches the batch
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
    co_await flow_->handle(*snapshot, request, sink);
}

http::awaitable<bool> Worker::admitHead(http::ClientRequest& request, http::ResponseSink& sink) {
    std::shared_ptr<const Snapshot> snapshot = snapshot_;
    co_return co_await flow_->admitHead(*snapshot, request, sink);
}

}  // namespace aiproxy::server
