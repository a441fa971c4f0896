#pragma once
// Server: the control thread. Owns the workers, loads and reloads the config file (SIGHUP),
// and drains on SIGTERM/SIGINT (ARCHITECTURE.md section 2).

#include <string>

#include "aiproxy/config/config.hpp"

namespace aiproxy::server {

struct ServerOptions {
    std::string config_path;
};

// Runs until a graceful shutdown; returns the process exit code. Throws on startup failures
// (bind errors, TLS setup) with a message for the user.
int runServer(const ServerOptions& options, config::Config config);

}  // namespace aiproxy::server
