#include "support/daemon_fixture.hpp"

#include <iostream>

#include "support/http_client.hpp"

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

::testing::AssertionResult DaemonFixture::startWithStatusAndAdmin(const std::string& config) {
    auto started = startDaemon(config);
    if (started && (status_port_ == 0 || admin_port_ == 0)) {
        return ::testing::AssertionFailure() << "no status or admin port in the log";
    }
    return started;
}

double DaemonFixture::metric(const std::string& series) const {
    return metricSample(status_port_, series);
}

void DaemonFixture::TearDown() {
    if (HasFailure()) std::cerr << "--- aiproxyd log ---\n" << daemon_.stderrText();
}

}  // namespace aiproxy::test
