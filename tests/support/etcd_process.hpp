#pragma once

// A real etcd (Debian's etcd-server) on free loopback ports with a private data directory, for
// the cluster tests; etcdctl (etcd-client) to look at what the gateway stored.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/daemon.hpp"

namespace aiproxy::test {

/// The path of `name` on $PATH (or /usr/bin, /usr/local/bin), empty when missing.
std::string findExecutable(const std::string& name);

/// A port nothing listens on right now (bound to 127.0.0.1:0 and released).
uint16_t freeLoopbackPort();

class EtcdProcess {
public:
    EtcdProcess();
    ~EtcdProcess();

    /// Empty when etcd (etcd-server) or etcdctl (etcd-client) is missing: tests skip with it.
    static std::string missingReason();

    /// Starts (or starts again, same ports and data) and waits until /health answers.
    bool start();
    /// SIGKILL and reaped.
    void kill();
    /// SIGSTOP / SIGCONT: an etcd that hangs with its sockets open.
    void pause();
    void resume();

    uint16_t clientPort() const { return client_port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
    /// Runs `etcdctl --endpoints URL <args>` (API v3) and returns its output; exit code in `code`.
    std::string etcdctl(const std::vector<std::string>& args, int* code = nullptr) const;
    std::string log() const;

private:
    TempDir dir_;
    uint16_t client_port_;
    uint16_t peer_port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace aiproxy::test
