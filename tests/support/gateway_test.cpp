#include "support/gateway_test.hpp"

#include <iostream>

namespace aiproxy::test {

GatewayConfig GatewayTest::baseConfig() const {
    return {.primary = {{primary_.address()}}, .fallback = {{fallback_.address()}}};
}

::testing::AssertionResult GatewayTest::startGateway(const GatewayConfig& config) {
    if (daemon_.start(config.yaml())) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "aiproxyd did not start listening; its output:\n"
                                         << daemon_.stderrText();
}

Response GatewayTest::post(const std::string& target) {
    return sendRequest(daemon_.port(), chatRequest(target));
}

void GatewayTest::TearDown() {
    if (HasFailure())
        std::cerr << "---- aiproxyd output ----\n" << daemon_.stderrText() << "----\n";
}

}  // namespace aiproxy::test
