#pragma once

// The fixture most integration tests share: a primary and a fallback backend and one aiproxyd,
// which each test configures and starts itself.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon.hpp"
#include "support/gateway_config.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {

/// The fallback upstream answered the second attempt with its default body.
void expectServedByFallback(const Response& response, const MockBackend& fallback);

/// For a stream gated by `gate`: releases each of `events` only after the previous one reached
/// `client` (so a gateway that buffers stalls the stream and fails), then the stream's end.
void expectEventsRelayedOneByOne(StreamingClient& client, Gate& gate,
                                 const std::vector<std::string>& events);

class GatewayTest : public ::testing::Test {
protected:
    /// One route /llm/* over `primary` (one node) with `fallback` behind it, retry 1.
    GatewayConfig baseConfig() const;
    ::testing::AssertionResult startGateway(const GatewayConfig& config);
    /// A chat completion POST through the gateway.
    Response post(const std::string& target = "/llm/chat/completions");
    /// Prints the daemon's log when the test failed: it usually says why.
    void TearDown() override;

    MockBackend primary_{"primary"};
    MockBackend fallback_{"fallback"};
    Daemon daemon_;  // after the backends: stopped before them
};

}  // namespace aiproxy::test
