#pragma once

#include "mock_options.hpp"

namespace aiproxy::mock {

/// Binds the listen address, prints "aiproxy-mock-llm NAME listening on HOST:PORT" on stderr
/// (with the real port when 0 was asked for) and serves until SIGINT or SIGTERM.
/// Returns the exit code: 0 after a signal, 1 when the address cannot be bound.
int runServer(const Options& options);

}  // namespace aiproxy::mock
