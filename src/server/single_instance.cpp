#include "single_instance.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace aiproxy::server {

namespace net = boost::asio;

std::string displayAddress(const std::string& host, std::uint16_t port) {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// One daemon per data directory: a second one would acknowledge Admin API writes that the
// first one's next state.json write silently discards. The lock (flock, released by the kernel
// when the process dies, so a crash leaves nothing stale) is held for the process's life; the
// file holds the holder's pid for the message.
int lockDataDir(const std::string& data_dir) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) throw std::runtime_error("cannot create " + data_dir + ": " + ec.message());
    std::string path = (std::filesystem::path(data_dir) / "aiproxyd.lock").string();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = {};
        ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
        ::close(fd);
        std::string pid = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : "";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
            pid.pop_back();
        throw std::runtime_error("data directory " + data_dir +
                                 " is in use by another aiproxyd (pid " +
                                 (pid.empty() ? "unknown" : pid) +
                                 "); storage.data_dir must "
                                 "differ between daemons");
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
        spdlog::warn("cannot write the pid into {}: {}", path, std::strerror(errno));
    }
    return fd;
}

// SO_REUSEPORT lets the workers share a port, but it would also let a second daemon (same
// user) join the listen address and take a share of its traffic with another config. A probe
// without SO_REUSEPORT fails with EADDRINUSE exactly when something listens there already.
void refuseServedAddress(const std::string& host, std::uint16_t port) {
    if (port == 0) return;
    net::io_context probe_context;
    boost::asio::ip::tcp::endpoint endpoint{net::ip::make_address(host), port};
    boost::asio::ip::tcp::acceptor probe{probe_context};
    boost::system::error_code ec;
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6()) probe.set_option(net::ip::v6_only(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec == boost::asio::error::address_in_use) {
        throw std::runtime_error("cannot listen on " + displayAddress(host, port) +
                                 ": the address is already in use by another process");
    }
}

}  // namespace aiproxy::server
