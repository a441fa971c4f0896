#include "aiproxy/server/server.hpp"

#include <csignal>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "aiproxy/config/config_loader.hpp"
#include "aiproxy/http/listener.hpp"
#include "aiproxy/server/worker.hpp"

namespace aiproxy::server {
namespace {

namespace net = boost::asio;

http::SessionLimits sessionLimits(const config::Limits& limits) {
    return {.max_header_bytes = limits.max_header_bytes,
            .max_body_bytes = limits.max_body_bytes,
            .header_timeout = limits.header_timeout,
            .body_timeout = limits.body_timeout,
            .keepalive_timeout = limits.keepalive_timeout,
            .send_timeout = limits.send_timeout};
}

std::string displayAddress(const std::string& host, std::uint16_t port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

class ControlThread {
public:
    ControlThread(const ServerOptions& options, config::Config config)
        : options_(options),
          config_(std::move(config)),
          limits_(sessionLimits(config_.server.limits)) {}

    int run() {
        unsigned count = config_.server.workers;
        if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned i = 0; i < count; ++i) {
            workers_.push_back(std::make_unique<Worker>(
                i, limits_, config_.server.limits.max_connections, open_connections_));
        }
        bind();
        snapshot_ = Snapshot::build(config_, nullptr);
        for (auto& worker : workers_)
            worker->start(snapshot_);
        spdlog::info("aiproxyd {} ready: {} worker(s), {} route(s), {} upstream(s)",
                     AIPROXY_VERSION, count, config_.routes.size(), config_.upstreams.size());
        waitForSignal();
        control_.run();
        for (auto& worker : workers_)
            worker->stop();
        spdlog::info("aiproxyd stopped");
        return 0;
    }

private:
    void bind() {
        for (const auto& address : config_.server.listen) {
            std::uint16_t port = address.port;
            for (auto& worker : workers_) {
                try {
                    auto acceptor =
                        http::openAcceptor(worker->context().get_executor(), address.host, port);
                    if (port == 0) port = acceptor.local_endpoint().port();
                    worker->addAcceptor(std::move(acceptor));
                } catch (const boost::system::system_error& error) {
                    throw std::runtime_error("cannot listen on " +
                                             displayAddress(address.host, port) + ": " +
                                             error.code().message());
                }
            }
            spdlog::info("listening on {}", displayAddress(address.host, port));
        }
    }

    void waitForSignal() {
        signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                reload();
            } else {
                shutdown(signal);
            }
            waitForSignal();
        });
    }

    void reload() {
        spdlog::info("SIGHUP: reloading {}", options_.config_path);
        auto result = config::loadConfigFile(options_.config_path);
        for (const auto& warning : result.warnings)
            spdlog::warn("config: {}", warning.toString());
        if (!result.config) {
            for (const auto& error : result.errors)
                spdlog::error("config: {}", error.toString());
            spdlog::error("reload rejected: {} error(s); the previous configuration stays",
                          result.errors.size());
            return;
        }
        const auto& next = *result.config;
        if (!(next.server.listen == config_.server.listen) ||
            next.server.workers != config_.server.workers ||
            !(next.server.limits == config_.server.limits)) {
            spdlog::warn("reload: changes under server.* take effect only after a restart");
        }
        try {
            auto snapshot = Snapshot::build(next, snapshot_.get());
            for (auto& worker : workers_)
                worker->post(snapshot);
            snapshot_ = std::move(snapshot);
            config_.routes = next.routes;
            config_.upstreams = next.upstreams;
            spdlog::info("reload done: {} route(s), {} upstream(s)", config_.routes.size(),
                         config_.upstreams.size());
        } catch (const std::exception& error) {
            spdlog::error("reload rejected: {}; the previous configuration stays", error.what());
        }
    }

    void shutdown(int signal) {
        if (draining_) {
            spdlog::warn("second signal {}: stopping without waiting", signal);
            control_.stop();
            return;
        }
        draining_ = true;
        spdlog::info("signal {}: draining (up to {} ms)", signal,
                     config_.server.drain_timeout.count());
        for (auto& worker : workers_) {
            worker->drain([this] {
                net::post(control_, [this] {
                    if (++drained_ == workers_.size()) {
                        spdlog::info("all connections finished");
                        control_.stop();
                    }
                });
            });
        }
        drain_timer_.expires_after(config_.server.drain_timeout);
        drain_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            spdlog::warn("drain timeout: closing {} remaining connection(s)",
                         open_connections_.load());
            control_.stop();
        });
    }

    const ServerOptions& options_;
    config::Config config_;
    http::SessionLimits limits_;
    net::io_context control_{1};
    net::signal_set signals_{control_, SIGINT, SIGTERM, SIGHUP};
    net::steady_timer drain_timer_{control_};
    std::atomic<std::size_t> open_connections_{0};
    std::vector<std::unique_ptr<Worker>> workers_;
    std::shared_ptr<const Snapshot> snapshot_;
    bool draining_ = false;
    std::size_t drained_ = 0;
};

}  // namespace

int runServer(const ServerOptions& options, config::Config config) {
    std::signal(SIGPIPE, SIG_IGN);
    ControlThread control{options, std::move(config)};
    return control.run();
}

}  // namespace aiproxy::server
