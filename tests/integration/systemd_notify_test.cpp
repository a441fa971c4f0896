// Type=notify (config/aiproxyd.service): the daemon tells the service manager over $NOTIFY_SOCKET
// that it is ready only once its port accepts connections, and announces reloads and the drain.

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon.hpp"
#include "support/gateway_config.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"
#include "support/notify_socket.hpp"

namespace aiproxy::test {
namespace {

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
                                     aiproxydPath(), "-c", path.string()},
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
