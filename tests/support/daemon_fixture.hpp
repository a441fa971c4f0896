#pragma once

// A test against one aiproxyd and one mock backend: the daemon's log is printed when the test
// failed (it usually says why), and the status and Admin API ports are read from that log.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "support/daemon.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {

class DaemonFixture : public ::testing::Test {
protected:
    /// Starts the daemon on `config` and waits until it is ready. The status and admin ports
    /// stay 0 when that listener is off; a listener that is on but not logged is a failure.
    ::testing::AssertionResult startDaemon(const std::string& config);
    /// startDaemon, for suites that read metrics and call the Admin API: a config with the status
    /// endpoint or the Admin API off is a failure.
    ::testing::AssertionResult startWithStatusAndAdmin(const std::string& config);
    /// The value of one sample line of the status endpoint's /metrics ("name{labels}"), -1 when
    /// absent.
    double metric(const std::string& series) const;
    void TearDown() override;

    MockBackend backend_{"backend"};
    Daemon daemon_;  // after the backend: stopped before it
    uint16_t status_port_ = 0;
    uint16_t admin_port_ = 0;
};

}  // namespace aiproxy::test
