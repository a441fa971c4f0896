#pragma once

// The service manager's end of $NOTIFY_SOCKET, for the sd_notify tests (unit and integration): a
// datagram socket bound to a path, or to an abstract name ("@..."). Header-only: it needs nothing
// but the C library.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiproxy::test {

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
    int fd() const { return fd_; }
    const std::string& address() const { return address_; }
    /// Every datagram read so far, in order.
    const std::vector<std::string>& received() const { return received_; }

    /// The next datagram, waiting up to `timeout_ms` for it; nullopt when none came. Local
    /// datagrams are queued by the time sendto() returns, so a short bound only guards against a
    /// broken sender.
    std::optional<std::string> receive(int timeout_ms = 1000) {
        if (!readable(timeout_ms)) return std::nullopt;
        return readOne();
    }

    /// Waits for a datagram with `line` as one of its lines; every datagram read on the way is
    /// kept in received().
    bool waitFor(std::string_view line,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !readable(static_cast<int>(left.count()))) return false;
            auto message = readOne();
            if (message && hasLine(*message, line)) return true;
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
    bool readable(int timeout_ms) const {
        pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
        return ::poll(&ready, 1, timeout_ms) == 1;
    }

    std::optional<std::string> readOne() {
        std::array<char, 4096> buffer{};
        ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0) return std::nullopt;
        return received_.emplace_back(buffer.data(), static_cast<std::size_t>(n));
    }

    std::string address_;
    int fd_ = -1;
    bool bound_ = false;
    std::vector<std::string> received_;
};

}  // namespace aiproxy::test
