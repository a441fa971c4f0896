#include "support/etcd_process.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include "support/http_client.hpp"

namespace aiproxy::test {

std::string findExecutable(const std::string& name) {
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/bin:/usr/local/bin";
    std::stringstream dirs{path};
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) continue;
        auto candidate = std::filesystem::path{dir} / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return {};
}

uint16_t freeLoopbackPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
        port = ntohs(address.sin_port);
    }
    ::close(fd);
    return port;
}

EtcdProcess::EtcdProcess() : client_port_(freeLoopbackPort()), peer_port_(freeLoopbackPort()) {}

EtcdProcess::~EtcdProcess() {
    if (process_) resume();  // a stopped process ignores SIGKILL until it runs again
}

std::string EtcdProcess::missingReason() {
    if (findExecutable("etcd").empty()) {
        return "etcd is not installed (Debian package etcd-server; `make deps` installs it)";
    }
    if (findExecutable("etcdctl").empty()) {
        return "etcdctl is not installed (Debian package etcd-client; `make deps` installs it)";
    }
    return {};
}

bool EtcdProcess::start() {
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        findExecutable("etcd"), "--name", "test", "--data-dir", (dir_.path() / "data").string(),
        "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls",
        peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "test=" + peer,
        "--log-level", "warn"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        Response health = sendRequest(
            client_port_, Request{.target = "/health", .timeout = std::chrono::seconds(1)});
        if (health.ok() && health.status == 200 && health.body.find("true") != std::string::npos) {
            return true;
        }
        if (process_->waitExit(std::chrono::milliseconds(0))) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a child's port
    }
    return false;
}

void EtcdProcess::kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    process_->signal(SIGCONT);
    process_->waitExit(std::chrono::seconds(10));
}

void EtcdProcess::pause() {
    if (process_) process_->signal(SIGSTOP);
}

void EtcdProcess::resume() {
    if (process_) process_->signal(SIGCONT);
}

std::string EtcdProcess::etcdctl(const std::vector<std::string>& args, int* code) const {
    std::vector<std::string> argv{findExecutable("etcdctl"), "--endpoints", url()};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess child{argv, {"ETCDCTL_API=3"}};
    auto exit = child.waitExit(std::chrono::seconds(10));
    if (code) *code = exit.value_or(-1);
    return child.output();
}

std::string EtcdProcess::log() const {
    return process_ ? process_->output() : std::string{};
}

}  // namespace aiproxy::test
