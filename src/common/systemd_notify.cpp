#include "aiproxy/common/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace aiproxy::common {

void notifySystemd(std::string_view state) noexcept {
    const char* socket_name = std::getenv("NOTIFY_SOCKET");
    if (socket_name == nullptr || state.empty()) return;
    std::string_view name = socket_name;
    // Other forms (e.g. "vsock:" in newer systemd) name transports this daemon does not speak.
    if (name.size() < 2 || (name.front() != '/' && name.front() != '@')) return;

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (name.size() >= sizeof address.sun_path) return;
    std::memcpy(address.sun_path, name.data(), name.size());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name.front() == '@') {
        address.sun_path[0] = '\0';  // abstract namespace: the length, not a NUL, ends the name
    } else {
        length += 1;  // a path name includes its terminating NUL
    }

    // Non-blocking: when the manager's queue is full, dropping the message beats stalling a
    // listener or the drain.
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return;
    ssize_t sent = 0;
    do {
        sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                        reinterpret_cast<const sockaddr*>(&address), length);
    } while (sent < 0 && errno == EINTR);
    ::close(fd);
}

void notifySystemdReloading() noexcept {
    timespec now{};
    if (::clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
        notifySystemd("RELOADING=1");
        return;
    }
    unsigned long long usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL +
                              static_cast<unsigned long long>(now.tv_nsec) / 1'000ULL;
    char message[64];
    int size = std::snprintf(message, sizeof message, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
    if (size <= 0 || static_cast<std::size_t>(size) >= sizeof message) return;
    notifySystemd(std::string_view{message, static_cast<std::size_t>(size)});
}

}  // namespace aiproxy::common
