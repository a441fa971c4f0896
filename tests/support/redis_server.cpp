#include "support/redis_server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace aiproxy::test {
namespace {

// A port the kernel just handed out and took back: free unless something grabs it meanwhile.
uint16_t freeLoopbackPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
        port = ntohs(address.sin_port);
    }
    ::close(fd);
    return port;
}

}  // namespace

std::optional<std::string> RedisServer::binary() {
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/bin:/usr/sbin";
    std::stringstream dirs{path};
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        auto candidate = std::filesystem::path{dir} / "redis-server";
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return std::nullopt;
}

bool RedisServer::start() {
    auto path = binary();
    if (!path) return false;
    if (port_ == 0) port_ = freeLoopbackPort();
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        *path, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "", "--appendonly",
        "no", "--dir", dir_.path().string(), "--loglevel", "notice"});
    return process_->waitForOutput("Ready to accept connections", kWaitTimeout);
}

void RedisServer::kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    process_->waitExit(kWaitTimeout);
    process_.reset();
}

}  // namespace aiproxy::test
