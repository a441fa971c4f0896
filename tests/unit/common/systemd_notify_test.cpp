#include "aiproxy/common/systemd_notify.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "support/notify_socket.hpp"

namespace aiproxy::common {
namespace {

using aiproxy::test::NotifySocket;

class SystemdNotifyTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "aiproxy-notify-XXXXXX");
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        ::unsetenv("NOTIFY_SOCKET");
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    std::string socketPath() const { return (dir_ / "notify.sock").string(); }
    // Unique per process: abstract names are shared by everything in the network namespace.
    static std::string abstractName() {
        return "@aiproxy-notify-unit-" + std::to_string(::getpid());
    }

    std::filesystem::path dir_;
};

TEST_F(SystemdNotifyTest, SendsTheStateToAPathSocket) {
    NotifySocket manager(socketPath());
    ASSERT_TRUE(manager.bound());
    ::setenv("NOTIFY_SOCKET", socketPath().c_str(), 1);

    notifySystemd("READY=1\nSTATUS=listening");

    EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=listening");
}

TEST_F(SystemdNotifyTest, SendsTheStateToAnAbstractSocket) {
    NotifySocket manager(abstractName());
    ASSERT_TRUE(manager.bound());
    ::setenv("NOTIFY_SOCKET", abstractName().c_str(), 1);

    notifySystemd("STOPPING=1");

    EXPECT_EQ(manager.receive(), "STOPPING=1");
}

TEST_F(SystemdNotifyTest, ReloadingCarriesAMonotonicTimestamp) {
    NotifySocket manager(socketPath());
    ASSERT_TRUE(manager.bound());
    ::setenv("NOTIFY_SOCKET", socketPath().c_str(), 1);
    timespec before{};
    ::clock_gettime(CLOCK_MONOTONIC, &before);

    notifySystemdReloading();

    auto message = manager.receive();
    ASSERT_TRUE(message);
    constexpr std::string_view kPrefix = "RELOADING=1\nMONOTONIC_USEC=";
    ASSERT_TRUE(message->starts_with(kPrefix)) << *message;
    unsigned long long stamp = std::stoull(message->substr(kPrefix.size()));
    EXPECT_GE(stamp, static_cast<unsigned long long>(before.tv_sec) * 1'000'000ULL);
}

TEST_F(SystemdNotifyTest, DoesNothingWithoutNotifySocket) {
    NotifySocket manager(socketPath());
    ASSERT_TRUE(manager.bound());
    ::unsetenv("NOTIFY_SOCKET");

    notifySystemd("READY=1");
    ::setenv("NOTIFY_SOCKET", "", 1);
    notifySystemd("READY=1");

    EXPECT_FALSE(manager.receive(0));
}

TEST_F(SystemdNotifyTest, IgnoresAddressesItCannotReach) {
    for (const char* address : {"vsock:2:1234", "relative/notify.sock", "@", "/nonexistent/x"}) {
        ::setenv("NOTIFY_SOCKET", address, 1);
        notifySystemd("READY=1");  // must simply return
    }
    std::string too_long = "/" + std::string(200, 'x');
    ::setenv("NOTIFY_SOCKET", too_long.c_str(), 1);
    notifySystemd("READY=1");
    SUCCEED();
}

TEST_F(SystemdNotifyTest, DropsMessagesInsteadOfBlockingWhenTheManagerIsNotReading) {
    NotifySocket manager(socketPath());
    ASSERT_TRUE(manager.bound());
    int small = 1;  // the kernel rounds this up to its minimum, a handful of datagrams
    ASSERT_EQ(::setsockopt(manager.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    ::setenv("NOTIFY_SOCKET", socketPath().c_str(), 1);

    // A blocking send would hang here once the queue is full; this loop must finish.
    for (int i = 0; i < 2000; ++i)
        notifySystemd("STATUS=a status line long enough to fill a small receive queue quickly");

    int queued = 0;
    while (manager.receive(0))
        ++queued;
    EXPECT_GT(queued, 0);
    EXPECT_LT(queued, 2000);
}

}  // namespace
}  // namespace aiproxy::common
