#pragma once
// Server: the control thread. Owns the workers, loads and reloads the config file (SIGHUP),
// and drains on SIGTERM/SIGINT (ARCHITECTURE.md section 2).

#include <string>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::server {

struct ServerOptions {
    std::string config_path;
};

// Runs until a graceful shutdown; returns the process exit code. `loaded` is a successful load
// of the config file. Throws on startup failures (bind errors, TLS setup, a damaged state file)
// with a message for the user.
int runServer(const ServerOptions& options, config::LoadResult loaded);

}  // namespace aiproxy::server
