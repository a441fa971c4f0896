#include "support/daemon_fixture.hpp"

#include <iostream>

namespace aiproxy::test {

::testing::AssertionResult DaemonFixture::startDaemon(const std::string& config) {
    if (!daemon_.start(config) || !daemon_.waitForStderr(" ready: ")) {
        return ::testing::AssertionFailure() << "aiproxyd did not get ready:\n"
                                             << daemon_.stderrText();
    }
    std::string log = daemon_.stderrText();
    status_port_ = parsePortAfter(log, "status endpoint on ").value_or(0);
    admin_port_ = parsePortAfter(log, "admin API on ").value_or(0);
    return ::testing::AssertionSuccess();
}

void DaemonFixture::TearDown() {
    if (HasFailure()) std::cerr << "--- aiproxyd log ---\n" << daemon_.stderrText();
}

}  // namespace aiproxy::test
