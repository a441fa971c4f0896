#include "aiproxy/server/server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin_key.hpp"
#include "aiproxy/admin/admin_api.hpp"
#include "aiproxy/admin/admin_server.hpp"
#include "aiproxy/admin/status_server.hpp"
#include "aiproxy/common/systemd_notify.hpp"
#include "aiproxy/config/config_loader.hpp"
#include "aiproxy/config/objects.hpp"
#include "aiproxy/config/store.hpp"
#include "aiproxy/http/listener.hpp"
#include "aiproxy/server/process_metrics.hpp"
#include "aiproxy/server/worker.hpp"
#include "aiproxy/upstream/active_health_checker.hpp"
#include "config_store.hpp"
#include "health_report.hpp"
#include "listeners.hpp"
#include "server_metrics.hpp"
#include "single_instance.hpp"
#include "status_board.hpp"
#include "tracing_setup.hpp"

namespace aiproxy::server {
namespace {

namespace net = boost::asio;

class ControlThread final : public admin::AdminHost {
public:
    ControlThread(const ServerOptions& options, config::LoadResult loaded)
        : options_(options),
          config_(std::move(*loaded.config)),
          file_document_(std::move(loaded.document)),
          limits_(sessionLimits(config_.server.limits)) {
        signals_.add(SIGUSR1);  // with the others, before anything can send it
    }
    ~ControlThread() override { stopStatusThread(); }
    ControlThread(const ControlThread&) = delete;
    ControlThread& operator=(const ControlThread&) = delete;

    // admin::AdminHost
    const config::Config& fileConfig() const override { return config_; }
    const config::Document* fileDocument() const override { return file_document_.get(); }
    std::int64_t now() const override {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    std::optional<std::string> prepare(const config::Config& effective) override {
        try {
            prepared_ = Snapshot::build(effective, snapshot_.get(), registry_.get(), limit_store_);
            prepared_config_ = effective;
            return std::nullopt;
        } catch (const std::exception& error) {
            prepared_.reset();
            return std::string{error.what()};
        }
    }

    void publish() override {
        if (!prepared_) return;
        effective_ = std::move(prepared_config_);
        publishSnapshot(std::move(prepared_));
    }

    std::optional<config::Document> health(std::string_view resource,
                                           std::string_view id) const override {
        if (!snapshot_) return std::nullopt;
        if (resource == "upstreams") {
            for (const auto& upstream : snapshot_->upstreams) {
                if (upstream->id() == id) return healthReport(id, *upstream->runtime());
            }
            return std::nullopt;
        }
        const auto* route = snapshot_->proxyOf(id);
        if (!route || !route->instance_set) return std::nullopt;  // ai-proxy: see its upstreams
        std::vector<std::string> names;
        for (const auto& instance : route->upstreams)
            names.push_back(instance->id());
        return healthReport(id, *route->instance_set->runtime, names);
    }

    std::optional<std::string> statusJson() const override {
        return status_board_.json(snapshot_.get(), std::chrono::steady_clock::now());
    }

    int run() {
        unsigned count = config_.server.workers;
        if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
        // One metrics slot per worker and one for this thread.
        registry_ = std::make_unique<observe::MetricsRegistry>(count + 1);
        control_slot_ = count;
        registerServerMetrics();
        // The workers' lines go through a queue to a thread of their own, on the same stderr
        // sink: during an outage no worker writes and flushes stderr under its lock.
        data_path_log_pool_ = std::make_shared<spdlog::details::thread_pool>(8192, 1);
        data_path_log_ = std::make_shared<spdlog::async_logger>(
            "data-path", spdlog::default_logger()->sinks().begin(),
            spdlog::default_logger()->sinks().end(), data_path_log_pool_,
            spdlog::async_overflow_policy::overrun_oldest);
        data_path_log_->set_level(spdlog::default_logger()->level());
        data_path_log_->flush_on(spdlog::level::trace);
        metrics_.data_path_log = data_path_log_.get();
        if (config_.log.access_log != "off") {
            access_log_ = std::make_unique<observe::AccessLog>(config_.log.access_log);
            metrics_.access_log = access_log_.get();
        }
        trace_exporter_ = startTracing(config_.tracing, metrics_);
        if (config_.server.tls) {
            // A file that is not a usable certificate or key stops the start, naming it.
            tls_ = std::make_unique<http::TlsContextHolder>(tlsFiles(*config_.server.tls));
        }
        for (unsigned i = 0; i < count; ++i) {
            workers_.push_back(std::make_unique<Worker>(i, limits_,
                                                        config_.server.limits.max_connections,
                                                        open_connections_, &metrics_, tls_.get()));
        }
        data_dir_lock_ = lockDataDir(config_.storage.data_dir);
        store_ = openStore(config_.storage, control_);
        effective_ = left_out_.effective(config_, *store_);
        bindListeners(config_.server.listen, workers_, tls_ != nullptr);
        if (config_.status.enabled) {
            const auto& listen = config_.status.listen;
            // Its own thread: /healthz must answer while the control thread is busy (a state
            // file write, a snapshot build), or a liveness probe would restart a working gateway.
            status_ = std::make_unique<admin::StatusServer>(
                status_context_, listen.host, listen.port, *registry_, status_state_, [this] {
                    return status_board_.json(scrapeSnapshot().get(),
                                              std::chrono::steady_clock::now());
                });
            status_->start();
            status_thread_ = std::thread([this] { status_context_.run(); });
            spdlog::info("status endpoint on {} (/metrics /healthz /readyz) and status page on /",
                         displayAddress(listen.host, status_->port()));
        }
        snapshot_ = Snapshot::build(effective_, nullptr, registry_.get(), limit_store_);
        shareForScrapes(snapshot_);
        // The status page's history is sampled off the control thread when there is a status
        // thread (a long admin write must not leave a gap in the charts).
        sampler_ = std::make_unique<StatusSampler>(
            status_board_, status_ ? status_context_.get_executor() : control_.get_executor(),
            [this] { return scrapeSnapshot(); });
        sampler_->start();
        for (auto& worker : workers_)
            worker->start(snapshot_);
        store_->watch([this](std::string_view, std::string_view) { applyStoreChange(); });
        updateHealthChecks();
        if (config_.admin.enabled) startAdmin();
        status_state_.ready = true;
        // Listeners are bound (the kernel queues connections from here on) and workers run.
        common::notifySystemd("READY=1\nSTATUS=serving");
        spdlog::info("aiproxyd {} ready: {} worker(s), {} route(s), {} upstream(s)",
                     AIPROXY_VERSION, count, effective_.routes.size(), effective_.upstreams.size());
        waitForSignal();
        control_.run();
        for (auto& worker : workers_)
            worker->stop();
        // After the workers, which submitted their last spans as their requests ended.
        if (trace_exporter_) trace_exporter_->stop(kTraceFlushBound);
        stopStatusThread();
        spdlog::info("aiproxyd stopped");
        return 0;
    }

private:
    // Another node (or etcd coming back) changed the stored objects: the same build and
    // publish as an admin write.
    void applyStoreChange() {
        try {
            config::Config effective = left_out_.effective(config_, *store_);
            auto snapshot =
                Snapshot::build(effective, snapshot_.get(), registry_.get(), limit_store_);
            publishSnapshot(std::move(snapshot));
            effective_ = std::move(effective);
            spdlog::info("config store change applied: {} route(s), {} upstream(s)",
                         effective_.routes.size(), effective_.upstreams.size());
        } catch (const std::exception& error) {
            spdlog::error("config store change rejected: {}; the previous configuration stays",
                          error.what());
        }
    }

    void startAdmin() {
        std::vector<config::AdminKey> keys = config_.admin.keys;
        if (keys.empty()) keys.push_back({generatedAdminKey(config_.storage.data_dir), "admin"});
        std::vector<common::Cidr> allow;
        for (const auto& range : config_.admin.allow)
            allow.push_back(*common::Cidr::parse(range));  // validated by the loader
        admin_api_ = std::make_unique<admin::AdminApi>(*store_, *this, std::move(keys));
        const auto& listen = config_.admin.listen;
        const auto& failures = config_.admin.auth_failure_limit;
        admin_ = std::make_unique<admin::AdminServer>(
            control_, listen.host, listen.port, std::move(allow), *admin_api_,
            admin::AuthFailureLimiter::Settings{.max_failures = failures.max_failures,
                                                .window = failures.window,
                                                .max_tracked = failures.max_tracked});
        admin_->start();
        spdlog::info("admin API on {} (/apisix/admin)",
                     displayAddress(listen.host, admin_->port()));
    }

    // Active probes follow the snapshot: upstreams and ai-proxy-multi instances with
    // checks.active, their auth headers sent along.
    void updateHealthChecks() {
        std::vector<upstream::ActiveCheckTarget> targets;
        auto add = [&targets](const upstream::Upstream& upstream) {
            if (!upstream.config().checks.active) return;
            targets.push_back(
                {.runtime = upstream.runtime(), .extra_headers = upstream.config().auth.header});
        };
        for (const auto& upstream : snapshot_->upstreams)
            add(*upstream);
        for (const auto& compiled : snapshot_->compiled) {
            if (!compiled.proxy || !compiled.proxy->route().multi) continue;
            for (const auto& instance : compiled.proxy->route().upstreams)
                add(*instance);
        }
        health_checker_.update(std::move(targets));
    }

    // Hands a snapshot to every worker and returns once all of them use it, so the next request
    // after an admin write's response sees the write.
    void publishSnapshot(std::shared_ptr<const Snapshot> snapshot) {
        struct Pending {
            std::mutex mutex;
            std::condition_variable done;
            std::size_t left;
        };
        auto pending = std::make_shared<Pending>();
        pending->left = workers_.size();
        for (auto& worker : workers_) {
            worker->post(snapshot, [pending] {
                std::lock_guard lock{pending->mutex};
                if (--pending->left == 0) pending->done.notify_all();
            });
        }
        snapshot_ = std::move(snapshot);
        shareForScrapes(snapshot_);
        updateHealthChecks();
        std::unique_lock lock{pending->mutex};
        // Workers apply a snapshot in microseconds; the bound only guards against a stopped one.
        if (!pending->done.wait_for(lock, std::chrono::seconds(5),
                                    [&] { return pending->left == 0; })) {
            spdlog::warn("a worker did not apply the new configuration within 5 s");
        }
    }

    void stopStatusThread() {
        if (!status_thread_.joinable()) return;
        status_context_.stop();
        status_thread_.join();
    }

    void shareForScrapes(const std::shared_ptr<const Snapshot>& snapshot) {
        std::lock_guard lock{scrape_mutex_};
        scrape_snapshot_ = snapshot;
    }

    std::shared_ptr<const Snapshot> scrapeSnapshot() {
        std::lock_guard lock{scrape_mutex_};
        return scrape_snapshot_;
    }

    void registerServerMetrics() {
        auto& registry = *registry_;
        // Scrapes run on the status thread: they read the snapshot last published.
        registry.addCollector([this](std::string& out) {
            if (auto snapshot = scrapeSnapshot()) appendNodeMetrics(out, *snapshot);
        });
        registerDataPathMetrics(registry, metrics_);
        reloads_ok_ = registry.counter("aiproxy_config_reloads_total", "Config reloads, by result.",
                                       {{"result", "success"}});
        reloads_failed_ = registry.counter("aiproxy_config_reloads_total",
                                           "Config reloads, by result.", {{"result", "failure"}});
        addProcessMetrics(registry, AIPROXY_VERSION);
        addStoreMetrics(
            registry, [this] { return !store_ || store_->up(); },
            [this] { return left_out_.count() + (store_ ? store_->invalidValues() : 0); });
        addTraceMetrics(registry, trace_exporter_);
    }

    void waitForSignal() {
        signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                reload();
            } else if (signal == SIGUSR1) {
                spdlog::info("SIGUSR1: reopening the access log");
                if (access_log_) access_log_->reopen();
            } else {
                shutdown(signal);
            }
            waitForSignal();
        });
    }

    void reload() {
        spdlog::info("SIGHUP: reloading {}", options_.config_path);
        common::notifySystemdReloading();
        // Applied or rejected, the service is ready again when this returns.
        struct ReadyAgain {
            ~ReadyAgain() { common::notifySystemd("READY=1"); }
        } ready_again;
        auto result = config::loadConfigFile(options_.config_path);
        for (const auto& warning : result.warnings)
            spdlog::warn("config: {}", warning.toString());
        if (!result.config) {
            for (const auto& error : result.errors)
                spdlog::error("config: {}", error.toString());
            spdlog::error("reload rejected: {} error(s); the previous configuration stays",
                          result.errors.size());
            reloads_failed_->add(control_slot_);
            return;
        }
        const auto& next = *result.config;
        reloadTls(next.server);
        // tls is reloaded above; real_ip is part of the snapshot and applies with it.
        auto without_tls = [](config::ServerConfig server) {
            server.tls.reset();
            server.real_ip.reset();
            return server;
        };
        if (!(without_tls(next.server) == without_tls(config_.server)) ||
            !(next.status == config_.status) || !(next.admin == config_.admin) ||
            !(next.storage == config_.storage) || next.log.access_log != config_.log.access_log ||
            !(next.tracing == config_.tracing)) {
            spdlog::warn(
                "reload: changes under server, status, admin, storage, tracing and log.access_log "
                "take effect only after a restart");
        }
        if (next.log.level != config_.log.level) {
            spdlog::set_level(spdlog::level::from_str(next.log.level));
            data_path_log_->set_level(spdlog::level::from_str(next.log.level));
            config_.log.level = next.log.level;
        }
        try {
            // Only what a reload applies is taken from the new file: the snapshot (and every later
            // Admin API write, which rebuilds from config_) keeps the restart-only sections.
            config::Config applied = config_;
            applied.routes = next.routes;
            applied.upstreams = next.upstreams;
            applied.consumers = next.consumers;
            applied.consumer_groups = next.consumer_groups;
            applied.pricing = next.pricing;
            applied.server.real_ip = next.server.real_ip;
            // The file wins for the ids it declares; admin-managed objects stay.
            config::Config effective = left_out_.effective(applied, *store_);
            auto snapshot =
                Snapshot::build(effective, snapshot_.get(), registry_.get(), limit_store_);
            publishSnapshot(std::move(snapshot));
            effective_ = std::move(effective);
            config_ = std::move(applied);
            file_document_ = result.document;
            spdlog::info("reload done: {} route(s), {} upstream(s)", effective_.routes.size(),
                         effective_.upstreams.size());
            reloads_ok_->add(control_slot_);
        } catch (const std::exception& error) {
            spdlog::error("reload rejected: {}; the previous configuration stays", error.what());
            reloads_failed_->add(control_slot_);
        }
    }

    // server.tls files are read again on every reload (a renewed certificate keeps its path);
    // new connections use them, existing ones keep the context they started with. Turning TLS
    // on or off needs a restart: the listeners' protocol is fixed when they open.
    void reloadTls(const config::ServerConfig& next) {
        if (next.tls.has_value() != (tls_ != nullptr)) {
            spdlog::warn("reload: turning server.tls on or off takes effect only after a restart");
            return;
        }
        if (!tls_) return;
        if (auto error = tls_->reload(tlsFiles(*next.tls))) {
            spdlog::error("reload: {}; the previous TLS certificate stays", *error);
            return;
        }
        config_.server.tls = next.tls;
        spdlog::info("reload: TLS certificate loaded from {}", next.tls->cert);
    }

    void shutdown(int signal) {
        if (draining_) {
            spdlog::warn("second signal {}: stopping without waiting", signal);
            control_.stop();
            return;
        }
        draining_ = true;
        health_checker_.stop();
        // Readiness turns 503 before the listeners close, so balancers in front stop sending.
        status_state_.draining = true;
        common::notifySystemd("STOPPING=1\nSTATUS=draining");
        for (auto& worker : workers_) {
            worker->drain(
                [this] {
                    net::post(control_, [this] {
                        if (++drained_ == workers_.size()) {
                            spdlog::info("all connections finished");
                            control_.stop();
                        }
                    });
                },
                // Logged once every worker drains, so the line means what it says: from then
                // on every answer closes its connection.
                [this, signal] {
                    net::post(control_, [this, signal] {
                        if (++draining_workers_ == workers_.size()) {
                            spdlog::info("signal {}: draining (up to {} ms)", signal,
                                         config_.server.drain_timeout.count());
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

    std::unique_ptr<observe::MetricsRegistry> registry_;
    std::unique_ptr<observe::AccessLog> access_log_;  // outlives the workers that write to it
    std::unique_ptr<observe::TraceExporter> trace_exporter_;  // as access_log_; null: tracing off
    std::shared_ptr<spdlog::async_logger> data_path_log_;     // outlives the workers too
    // The logger holds its thread pool only weakly. Declared after it, so it goes first: its
    // thread writes what is queued and the logger is then freed on this thread.
    std::shared_ptr<spdlog::details::thread_pool> data_path_log_pool_;
    std::size_t control_slot_ = 0;
    ServerMetrics metrics_;
    metrics::CounterCell* reloads_ok_ = nullptr;
    metrics::CounterCell* reloads_failed_ = nullptr;
    admin::StatusState status_state_;
    const ServerOptions& options_;
    config::Config config_;  // the file's: static settings and file-declared objects
    std::shared_ptr<const nlohmann::ordered_json> file_document_;
    config::Config effective_;  // config_ plus admin-managed objects: what the snapshot serves
    std::shared_ptr<const Snapshot> prepared_;
    config::Config prepared_config_;
    http::SessionLimits limits_;
    net::io_context control_{1};
    net::signal_set signals_{control_, SIGINT, SIGTERM,
                             SIGHUP};  // + SIGUSR1, added in the constructor
    // After control_: the etcd store's thread posts to it, so it stops first.
    std::unique_ptr<config::Store> store_;
    LeftOutObjects left_out_;
    net::steady_timer drain_timer_{control_};
    upstream::ActiveHealthChecker health_checker_{control_};
    std::atomic<std::size_t> open_connections_{0};
    std::unique_ptr<http::TlsContextHolder> tls_;  // before workers_: they hold a pointer to it
    std::vector<std::unique_ptr<Worker>> workers_;
    std::shared_ptr<const Snapshot> snapshot_;
    // Rate-limit counters and concurrency gates of all workers, kept across reloads.
    std::shared_ptr<plugins::LimitStore> limit_store_ = std::make_shared<plugins::LimitStore>();
    std::mutex scrape_mutex_;
    std::shared_ptr<const Snapshot> scrape_snapshot_;  // the status thread's copy of snapshot_
    net::io_context status_context_{1};
    std::thread status_thread_;
    std::unique_ptr<admin::StatusServer> status_;  // declared after its context: destroyed first
    StatusBoard status_board_{std::chrono::steady_clock::now()};
    // On status_context_, else control_; declared after both, so destroyed before them.
    std::unique_ptr<StatusSampler> sampler_;
    std::unique_ptr<admin::AdminApi> admin_api_;
    std::unique_ptr<admin::AdminServer> admin_;
    bool draining_ = false;
    std::size_t drained_ = 0;
    std::size_t draining_workers_ = 0;  // workers that have started draining
    int data_dir_lock_ = -1;            // held (never closed) until the process exits
};

}  // namespace

int runServer(const ServerOptions& options, config::LoadResult loaded) {
    std::signal(SIGPIPE, SIG_IGN);
    ControlThread control{options, std::move(loaded)};
    return control.run();
}

}  // namespace aiproxy::server
