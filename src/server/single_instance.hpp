#pragma once
// One daemon per data directory and per listen address. Without these, a second aiproxyd on
// the same data directory acknowledges Admin API writes that the first one's next state.json
// write discards, and SO_REUSEPORT lets a second one on the same address take a share of the
// traffic with another config.

#include <cstdint>
#include <string>

namespace aiproxy::server {

// "host:port", "[v6]:port": how logs and messages name a listen address.
std::string displayAddress(const std::string& host, std::uint16_t port);

// Locks <data_dir>/aiproxyd.lock (created with the directory if needed) for the process's
// life and writes the pid into it; returns the descriptor, never to be closed. Throws
// std::runtime_error naming the holder's pid when another process holds it.
int lockDataDir(const std::string& data_dir);

// Throws std::runtime_error when another process already listens on host:port (port 0: no
// check).
void refuseServedAddress(const std::string& host, std::uint16_t port);

}  // namespace aiproxy::server
