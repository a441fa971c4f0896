// Type=notify (config/aiproxyd.service): the daemon tells the service manager over $NOTIFY_SOCKET
// that it is ready only once its port accepts connections, and announces reloads and the drain.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon.hpp"
#include "support/gateway_config.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

// The service manager's end: a datagram socket bound to a path, or to an abstract name ("@...").
class NotifySocket {
public:
    explicit NotifySocket(std::string address) : address_(std::move(address)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, address_.data(), address_.size());
        if (address_.front() == '@') un.sun_path[0] = '\0';
        auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
        bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&un), length) == 0;
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    bool bound() const { return bound_; }
    const std::string& address() const { return address_; }
    const std::vector<std::string>& received() const { return received_; }

    /// Waits for a datagram with `line` as one of its lines; every datagram read on the way is
    /// kept in received().
    bool waitFor(std::string_view line, std::chrono::milliseconds timeout = 10s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
            if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) != 1) {
                return false;
            }
            char buffer[4096];
            ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n < 0) continue;
            received_.emplace_back(buffer, static_cast<std::size_t>(n));
            if (hasLine(received_.back(), line)) return true;
        }
    }

    static bool hasLine(std::string_view message, std::string_view line) {
        while (!message.empty()) {
            auto end = message.find('\n');
            if (message.substr(0, end) == line) return true;
            if (end == std::string_view::npos) break;
            message.remove_prefix(end + 1);
        }
        return false;
    }

private:
    std::string address_;
    int fd_ = -1;
    bool bound_ = false;
    std::vector<std::string> received_;
};

std::string describe(const std::vector<std::string>& messages) {
    std::string out;
    for (const auto& message : messages)
        out += "[" + message + "] ";
    return out.empty() ? "(none)" : out;
}

class SystemdNotifyTest : public ::testing::Test {
protected:
    // Starts aiproxyd with NOTIFY_SOCKET set for it alone (through env(1), which execs in place,
    // so the daemon keeps the pid the test signals). Does not wait for the "listening" log line:
    // the notification itself is what the test waits for.
    void startDaemon(const std::string& notify_address) {
        GatewayConfig config{.primary = {{backend_.address()}}};
        auto path = dir_.write("aiproxy.yaml", config.yaml());
        // Its own working directory, so its ./data is its own: the data directory is locked,
        // and parallel tests must not share one.
        daemon_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{"/usr/bin/env", "NOTIFY_SOCKET=" + notify_address,
                                     AIPROXYD_PATH, "-c", path.string()},
            std::vector<std::string>{}, dir_.path());
    }

    // Starts the daemon on `manager` and waits for its first READY=1.
    ::testing::AssertionResult startReady(NotifySocket& manager) {
        if (!manager.bound()) return ::testing::AssertionFailure() << "cannot bind the socket";
        startDaemon(manager.address());
        if (manager.waitFor("READY=1")) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "no READY=1; got: " << describe(manager.received());
    }

    // The port from the "listening on" line. Our pipe reader may lag a little behind the
    // datagram, hence the wait.
    std::optional<uint16_t> listeningPort() const {
        if (!daemon_->waitForOutput("listening on ", kWaitTimeout)) return std::nullopt;
        if (!daemon_->waitForOutput("\n", kWaitTimeout, daemon_->output().find("listening on "))) {
            return std::nullopt;
        }
        return parseListeningPort(daemon_->output());
    }

    void expectServing() {
        auto port = listeningPort();
        ASSERT_TRUE(port) << "no listening port in the log";
        Response response = sendRequest(*port, chatRequest());
        EXPECT_EQ(response.status, 200) << response.error << response.body;
        EXPECT_EQ(response.body, backend_.defaultBody());
    }

    void TearDown() override {
        if (daemon_) daemon_->signal(SIGCONT);
        if (HasFailure() && daemon_) {
            std::cerr << "---- aiproxyd output ----\n" << daemon_->output() << "----\n";
        }
    }

    TempDir dir_;
    MockBackend backend_{"primary"};
    std::unique_ptr<ChildProcess> daemon_;
};

TEST_F(SystemdNotifyTest, ReadyArrivesOnlyOnceThePortAcceptsConnections) {
    NotifySocket manager((dir_.path() / "notify.sock").string());
    ASSERT_TRUE(startReady(manager));

    // Frozen right after READY=1, the daemon can bind nothing more: the port must already be in
    // the log and take connections (the kernel completes them into the listen backlog).
    ASSERT_TRUE(daemon_->signal(SIGSTOP));
    auto port = listeningPort();
    ASSERT_TRUE(port) << "READY=1 came before the listening line";
    EXPECT_FALSE(connectionRefused(*port)) << "READY=1 came before the port accepted connections";
    ASSERT_TRUE(daemon_->signal(SIGCONT));
    expectServing();
}

TEST_F(SystemdNotifyTest, AbstractNotifySocketIsSupported) {
    NotifySocket manager("@aiproxy-notify-it-" + std::to_string(::getpid()));
    ASSERT_TRUE(startReady(manager));
    expectServing();
}

TEST_F(SystemdNotifyTest, ReloadIsAnnouncedAndEndsWithReadyAgain) {
    NotifySocket manager((dir_.path() / "notify.sock").string());
    ASSERT_TRUE(startReady(manager));

    ASSERT_TRUE(daemon_->signal(SIGHUP));

    EXPECT_TRUE(manager.waitFor("RELOADING=1")) << "got: " << describe(manager.received());
    EXPECT_TRUE(manager.waitFor("READY=1")) << "got: " << describe(manager.received());
    expectServing();
}

TEST_F(SystemdNotifyTest, DrainIsAnnouncedAndTheExitIsClean) {
    NotifySocket manager((dir_.path() / "notify.sock").string());
    ASSERT_TRUE(startReady(manager));

    ASSERT_TRUE(daemon_->signal(SIGTERM));

    EXPECT_TRUE(manager.waitFor("STOPPING=1")) << "got: " << describe(manager.received());
    EXPECT_EQ(daemon_->waitExit(10s), 0);
}

TEST_F(SystemdNotifyTest, AnUnreachableNotifySocketDoesNotStopTheDaemon) {
    // A socket path nobody listens on: every notification fails, and that must not matter.
    startDaemon((dir_.path() / "nobody-listens.sock").string());
    expectServing();
}

}  // namespace
}  // namespace aiproxy::test
