#pragma once

// A real redis-server for the shared-limits suites: started on a free loopback port with no
// persistence, killed and restarted on the same port on command.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "support/daemon.hpp"

namespace aiproxy::test {

class RedisServer {
public:
    /// The redis-server binary on PATH (or /usr/bin), if installed.
    static std::optional<std::string> binary();

    /// Starts it (on a free port the first time, the same port after kill()); true once it
    /// accepts connections.
    bool start();
    /// SIGKILL, and waits for the process to end.
    void kill();
    uint16_t port() const { return port_; }
    std::string output() const { return process_ ? process_->output() : ""; }

private:
    TempDir dir_;
    uint16_t port_ = 0;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace aiproxy::test
