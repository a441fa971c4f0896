// The active checker against a real HTTP server on loopback that answers 200 or 500, hangs, or
// answers before it is asked; a closed port stands for a refusing node. Every wait is a bounded
// poll on observable state.

#include "aiproxy/upstream/active_health_checker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "aiproxy/upstream/upstream_runtime.hpp"
#include "upstream_test_support.hpp"

namespace aiproxy::upstream {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

// Polls cond every few milliseconds for at most `limit`.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return cond();
}

constexpr std::string_view kOk{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};

class ProbeServer {
public:
    enum class Mode { Ok, Fail, Hang, Eager };

    ProbeServer() : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
        port_ = acceptor_.local_endpoint().port();
        net::co_spawn(io_, accept(), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~ProbeServer() {
        io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return port_; }
    void setMode(Mode mode) { mode_ = mode; }
    int connections() const { return connections_; }
    int requests() const { return requests_; }
    std::string lastRequest() const {
        std::lock_guard lock{mutex_};
        return last_request_;
    }

private:
    net::awaitable<void> accept() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
            if (ec) co_return;
            ++connections_;
            net::co_spawn(io_, serve(std::move(socket)), net::detached);
        }
    }

    net::awaitable<void> serve(tcp::socket socket) {
        if (mode_ == Mode::Eager) {  // plain HTTP bytes at once: what a TLS client chokes on
            co_await net::async_write(socket, net::buffer(kOk), use_nothrow);
            co_return;
        }
        std::string data;
        auto [ec, n] = co_await net::async_read_until(socket, net::dynamic_buffer(data, 65536),
                                                      "\r\n\r\n", use_nothrow);
        if (ec) co_return;
        {
            std::lock_guard lock{mutex_};
            last_request_ = data.substr(0, n);
        }
        ++requests_;
        switch (mode_.load()) {
            case Mode::Hang:
                hung_.push_back(std::move(socket));  // open and silent until the server ends
                co_return;
            case Mode::Eager:
            case Mode::Ok:
                co_await net::async_write(socket, net::buffer(kOk), use_nothrow);
                co_return;
            case Mode::Fail:
                co_await net::async_write(
                    socket,
                    net::buffer(std::string_view{"HTTP/1.1 500 Internal Server Error\r\n"
                                                 "Content-Length: 0\r\nConnection: close\r\n\r\n"}),
                    use_nothrow);
                co_return;
        }
    }

    net::io_context io_;
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::atomic<Mode> mode_{Mode::Ok};
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    mutable std::mutex mutex_;
    std::string last_request_;
    std::vector<tcp::socket> hung_;  // server thread only
    std::thread thread_;
};

// A loopback port with nothing listening on it.
std::uint16_t closedPort() {
    net::io_context io;
    tcp::acceptor acceptor{io, {net::ip::make_address("127.0.0.1"), 0}};
    return acceptor.local_endpoint().port();
}

config::ActiveCheckConfig fastChecks(std::string type = "http") {
    config::ActiveCheckConfig active;
    active.type = std::move(type);
    active.timeout = 300ms;
    active.healthy.interval = 10ms;
    active.healthy.successes = 2;
    active.unhealthy.interval = 10ms;
    active.unhealthy.http_failures = 2;
    active.unhealthy.tcp_failures = 2;
    active.unhealthy.timeouts = 2;
    return active;
}

std::shared_ptr<UpstreamRuntime> runtimeFor(std::vector<std::uint16_t> ports,
                                            config::ActiveCheckConfig active) {
    std::vector<config::NodeConfig> list;
    for (auto port : ports)
        list.push_back(test::node("127.0.0.1", 1, 0, port));
    auto upstream = test::upstreamOf(std::move(list));
    upstream.checks.active = std::move(active);
    return test::runtimeOf(upstream);
}

// The checker on its own io_context thread, driven the way the control thread would.
class CheckerThread {
public:
    CheckerThread() : checker_(io_) {}
    ~CheckerThread() {
        if (thread_.joinable()) stopAndJoin();
    }

    // Before start(): called directly; afterwards: on the checker's thread.
    void update(std::vector<ActiveCheckTarget> targets) {
        onIo([&] { checker_.update(std::move(targets)); });
    }
    std::size_t loops() {
        std::size_t count = 0;
        onIo([&] { count = checker_.loops(); });
        return count;
    }
    void start() {
        thread_ = std::thread([this] { io_.run(); });
    }
    // stop() must end every loop: io_context::run() returns only when nothing is left.
    void stopAndJoin() {
        onIo([&] { checker_.stop(); });
        thread_.join();
    }

private:
    void onIo(const std::function<void()>& work) {
        if (!thread_.joinable()) return work();
        std::promise<void> done;
        net::post(io_, [&] {
            work();
            done.set_value();
        });
        done.get_future().wait();
    }

    net::io_context io_;
    ActiveHealthChecker checker_;
    std::thread thread_;
};

TEST(ActiveHealthCheckerTest, HttpProbeSendsTheConfiguredRequest) {
    ProbeServer server;
    auto active = fastChecks();
    active.http_path = "/v1/models";
    active.host = "api.example";
    active.req_headers = {"X-Probe: 1"};
    auto runtime = runtimeFor({server.port()}, active);
    CheckerThread checker;
    checker.update({{.runtime = runtime, .extra_headers = {{"Authorization", "Bearer k"}}}});
    checker.start();
    ASSERT_TRUE(eventually([&] { return server.requests() >= 1; }));
    auto head = server.lastRequest();
    EXPECT_TRUE(head.starts_with("GET /v1/models HTTP/1.1\r\n")) << head;
    EXPECT_NE(head.find("Host: api.example:" + std::to_string(server.port()) + "\r\n"),
              std::string::npos)
        << head;
    EXPECT_NE(head.find("X-Probe: 1\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Authorization: Bearer k\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
    EXPECT_EQ(runtime->node(0).health().view(Clock::now(), WallClock::now()).state,
              NodeState::Healthy);
}

TEST(ActiveHealthCheckerTest, FailingStatusesMarkUnhealthyAndSuccessesRestore) {
    ProbeServer server;
    server.setMode(ProbeServer::Mode::Fail);
    auto runtime = runtimeFor({server.port()}, fastChecks());
    auto& health = runtime->node(0).health();
    CheckerThread checker;
    checker.update({{.runtime = runtime}});
    checker.start();
    ASSERT_TRUE(eventually([&] { return health.probeUnhealthy(); }));
    auto view = health.view(Clock::now(), WallClock::now());
    EXPECT_EQ(view.state, NodeState::Unhealthy);
    EXPECT_EQ(view.last_error, "active check: HTTP status 500");
    EXPECT_EQ(health.availability(Clock::now()), Availability::Down);

    server.setMode(ProbeServer::Mode::Ok);
    ASSERT_TRUE(eventually([&] { return !health.probeUnhealthy(); }));
    EXPECT_EQ(health.availability(Clock::now()), Availability::Up);
}

TEST(ActiveHealthCheckerTest, ARefusingNodeCountsTcpFailures) {
    ProbeServer server;
    auto runtime = runtimeFor({server.port(), closedPort()}, fastChecks());
    CheckerThread checker;
    checker.update({{.runtime = runtime}});
    checker.start();
    ASSERT_TRUE(eventually([&] { return runtime->node(1).health().probeUnhealthy(); }));
    auto view = runtime->node(1).health().view(Clock::now(), WallClock::now());
    EXPECT_TRUE(view.last_error.starts_with("active check: connect failed")) << view.last_error;
    EXPECT_FALSE(runtime->node(0).health().probeUnhealthy());
}

TEST(ActiveHealthCheckerTest, ASilentNodeCountsTimeouts) {
    ProbeServer server;
    server.setMode(ProbeServer::Mode::Hang);
    auto active = fastChecks();
    active.timeout = 50ms;
    active.unhealthy.http_failures = 0;
    active.unhealthy.tcp_failures = 0;  // only timeouts may mark it
    auto runtime = runtimeFor({server.port()}, active);
    CheckerThread checker;
    checker.update({{.runtime = runtime}});
    checker.start();
    ASSERT_TRUE(eventually([&] { return runtime->node(0).health().probeUnhealthy(); }));
    EXPECT_GE(server.requests(), 2);
}

TEST(ActiveHealthCheckerTest, TcpProbesOnlyConnect) {
    ProbeServer server;
    server.setMode(ProbeServer::Mode::Fail);  // an HTTP probe would fail; a TCP one cannot
    auto runtime = runtimeFor({server.port(), closedPort()}, fastChecks("tcp"));
    CheckerThread checker;
    checker.update({{.runtime = runtime}});
    checker.start();
    ASSERT_TRUE(eventually([&] { return runtime->node(1).health().probeUnhealthy(); }));
    ASSERT_TRUE(eventually([&] { return server.connections() >= 3; }));
    EXPECT_FALSE(runtime->node(0).health().probeUnhealthy());
}

TEST(ActiveHealthCheckerTest, HttpsProbeToAPlainServerIsATcpFailure) {
    ProbeServer server;
    server.setMode(ProbeServer::Mode::Eager);
    auto active = fastChecks("https");
    active.https_verify_certificate = false;
    active.unhealthy.timeouts = 0;  // only TCP failures may mark it
    auto runtime = runtimeFor({server.port()}, active);
    CheckerThread checker;
    checker.update({{.runtime = runtime}});
    checker.start();
    ASSERT_TRUE(eventually([&] { return runtime->node(0).health().probeUnhealthy(); }));
    auto view = runtime->node(0).health().view(Clock::now(), WallClock::now());
    EXPECT_TRUE(view.last_error.starts_with("active check: TLS handshake failed"))
        << view.last_error;
}

TEST(ActiveHealthCheckerTest, AProbeSuccessEndsAPassiveEjection) {
    ProbeServer server;
    auto runtime = runtimeFor({server.port()}, fastChecks());
    auto& health = runtime->node(0).health();
    test::eject(*runtime, 0, Clock::now());  // 5 s cooldown
    ASSERT_EQ(health.availability(Clock::now()), Availability::Down);
    CheckerThread checker;
    checker.update({{.runtime = runtime}});
    checker.start();
    ASSERT_TRUE(eventually(
        [&] { return health.availability(Clock::now()) == Availability::TrialFree; }, 3s));
}

TEST(ActiveHealthCheckerTest, UpdateKeepsUnchangedTargetsAndStopsTheRest) {
    ProbeServer first_server;
    ProbeServer second_server;
    auto first = runtimeFor({first_server.port()}, fastChecks());
    auto second = runtimeFor({second_server.port()}, fastChecks());
    auto passive_only = test::runtimeOf(test::upstreamOf(test::nodes(3)));
    CheckerThread checker;
    checker.update({{.runtime = first}, {.runtime = passive_only}});
    EXPECT_EQ(checker.loops(), 1u);
    checker.start();
    ASSERT_TRUE(eventually([&] { return first_server.requests() >= 2; }));

    checker.update({{.runtime = first}, {.runtime = second}});
    EXPECT_EQ(checker.loops(), 2u);
    ASSERT_TRUE(eventually([&] { return second_server.requests() >= 2; }));

    checker.update({{.runtime = second}});
    EXPECT_EQ(checker.loops(), 1u);
    // The dropped target's loop ends: its server stops seeing probes while the other still does.
    int settled = 0;
    ASSERT_TRUE(eventually([&] {
        int now = first_server.requests();
        bool quiet = now == settled;
        settled = now;
        return quiet && second_server.requests() > 10;
    }));
    int before = first_server.requests();
    int other_before = second_server.requests();
    ASSERT_TRUE(eventually([&] { return second_server.requests() >= other_before + 5; }));
    EXPECT_EQ(first_server.requests(), before);
    checker.stopAndJoin();  // returns only because stop() ended every loop
}

}  // namespace
}  // namespace aiproxy::upstream
