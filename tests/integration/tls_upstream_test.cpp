// HTTPS upstreams: the gateway speaks TLS to the node, sends the right SNI (none for an address),
// accepts a certificate only when it is trusted and names the SNI host (unless told not to
// verify), bounds the handshake with tls.client_hello_timeout, and keeps TLS connections alive
// across requests.

#include <gtest/gtest.h>

#include "support/gateway_test.hpp"
#include "support/self_signed_certificate.hpp"

namespace aiproxy::test {
namespace {

using Clock = std::chrono::steady_clock;
using ServerNames = std::vector<std::optional<std::string>>;

class TlsUpstreamTest : public GatewayTest {
protected:
    /// The primary upstream is `node` over https with these `tls` settings (none: the defaults),
    /// the plain fallback behind it.
    GatewayConfig httpsConfig(const std::string& node, const std::string& tls) const {
        GatewayConfig config = baseConfig();
        config.primary = {{node}};
        config.primary_settings = {{"scheme", "https"}};
        if (!tls.empty()) config.primary_settings.emplace_back("tls", tls);
        return config;
    }

    std::string localhostNode() const { return "localhost:" + std::to_string(https_.port()); }

    MockBackend https_{"https", Transport::Tls};
};

void expectServedByPrimary(const Response& response, const MockBackend& backend) {
    EXPECT_EQ(response.status, 200) << response.error << response.body;
    EXPECT_EQ(response.body, backend.defaultBody());
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "primary");
    EXPECT_EQ(response.headers.get("X-AIProxy-Attempts"), "1");
}

TEST_F(TlsUpstreamTest, AddressNodeIsServedOverTlsWithoutSni) {
    ASSERT_TRUE(startGateway(httpsConfig(https_.address(), "{verify: false}")));

    Response response = post();

    expectServedByPrimary(response, https_);
    // SNI carries host names only (RFC 6066), so an address node sends none.
    EXPECT_EQ(https_.serverNames(), ServerNames{std::nullopt});
    ASSERT_EQ(https_.requestCount(), 1U);
    EXPECT_EQ(https_.requests().front().headers.get("Host"), https_.address());
    EXPECT_EQ(fallback_.requestCount(), 0U);
}

TEST_F(TlsUpstreamTest, HostNameNodeIsSentAsSniAndHost) {
    ASSERT_TRUE(startGateway(httpsConfig(localhostNode(), "{verify: false}")));

    Response response = post();

    expectServedByPrimary(response, https_);
    EXPECT_EQ(https_.serverNames(), ServerNames{"localhost"});
    ASSERT_EQ(https_.requestCount(), 1U);
    EXPECT_EQ(https_.requests().front().headers.get("Host"), localhostNode());
}

TEST_F(TlsUpstreamTest, ConfiguredSniReplacesTheNodeHostInTheHandshakeOnly) {
    ASSERT_TRUE(
        startGateway(httpsConfig(https_.address(), R"({verify: false, sni: "api.example.test"})")));

    Response response = post();

    expectServedByPrimary(response, https_);
    EXPECT_EQ(https_.serverNames(), ServerNames{"api.example.test"});
    ASSERT_EQ(https_.requestCount(), 1U);
    EXPECT_EQ(https_.requests().front().headers.get("Host"), https_.address());
}

// The node name matches the certificate, so only the missing trust can fail it: verification
// is on by default, and an untrusted certificate is a connect failure that moves on.
class UntrustedCertificateTest : public TlsUpstreamTest,
                                 public ::testing::WithParamInterface<std::string> {};

TEST_P(UntrustedCertificateTest, IsRejectedAndTheFallbackAnswers) {
    ASSERT_TRUE(startGateway(httpsConfig(localhostNode(), GetParam())));

    Response response = post();

    expectServedByFallback(response, fallback_);
    EXPECT_TRUE(https_.waitForFailedHandshake());
    EXPECT_TRUE(https_.serverNames().empty());
    EXPECT_EQ(https_.requestCount(), 0U);
}

INSTANTIATE_TEST_SUITE_P(Verify, UntrustedCertificateTest,
                         ::testing::Values(std::string(), std::string("{verify: true}")),
                         [](const auto& instance) {
                             return instance.param.empty() ? "ByDefault" : "Explicitly";
                         });

// The daemon's OpenSSL reads its trust store from SSL_CERT_FILE, so a daemon started with the
// test certificate there trusts the mock: what is left to check is the name.
class TrustedCertificateTest : public TlsUpstreamTest {
protected:
    void SetUp() override {
        auto trusted = dir_.write("trusted.pem", selfSignedCertificatePem());
        daemon_.setEnvironment("SSL_CERT_FILE", trusted.string());
    }

    TempDir dir_;
};

TEST_F(TrustedCertificateTest, IsAcceptedForTheHostNameItNames) {
    ASSERT_TRUE(startGateway(httpsConfig(localhostNode(), "{verify: true}")));

    Response response = post();

    expectServedByPrimary(response, https_);
    EXPECT_EQ(https_.serverNames(), ServerNames{"localhost"});
}

TEST_F(TrustedCertificateTest, IsAcceptedForTheAddressItNames) {
    ASSERT_TRUE(startGateway(httpsConfig(https_.address(), "{verify: true}")));

    Response response = post();

    expectServedByPrimary(response, https_);
    EXPECT_EQ(https_.serverNames(), ServerNames{std::nullopt});
}

TEST_F(TrustedCertificateTest, IsRejectedWhenTheSniNameIsNotInIt) {
    ASSERT_TRUE(
        startGateway(httpsConfig(localhostNode(), R"({verify: true, sni: "api.example.test"})")));

    Response response = post();

    expectServedByFallback(response, fallback_);
    EXPECT_TRUE(https_.waitForFailedHandshake());
    EXPECT_EQ(https_.requestCount(), 0U);
}

TEST_F(TlsUpstreamTest, StalledHandshakeGivesUpAfterClientHelloTimeout) {
    MockBackend stalled{"stalled", Transport::StalledTls};
    GatewayConfig config =
        httpsConfig(stalled.address(), "{verify: false, client_hello_timeout: 300}");
    config.timeout_ms = 5000;
    ASSERT_TRUE(startGateway(config));

    auto started = Clock::now();
    Response response = post();
    auto elapsed = Clock::now() - started;

    expectServedByFallback(response, fallback_);
    // The handshake had its 300 ms, and the attempt did not wait for its own 5 s timeout.
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 2500ms);
    EXPECT_EQ(stalled.acceptedConnections(), 1);
    // The gateway closes the connection it gave up on.
    EXPECT_TRUE(stalled.waitForAbandonedHang());
}

TEST_F(TlsUpstreamTest, TlsConnectionIsReusedAcrossRequests) {
    ASSERT_TRUE(startGateway(httpsConfig(localhostNode(), "{verify: false}")));

    for (int i = 0; i < 3; ++i) {
        Response response = post();  // a new client connection each time
        ASSERT_EQ(response.status, 200) << "request " << i << ": " << response.error;
    }

    EXPECT_EQ(https_.requestCount(), 3U);
    EXPECT_EQ(https_.acceptedConnections(), 1);
    EXPECT_EQ(https_.serverNames().size(), 1U);
}

TEST_F(TlsUpstreamTest, StreamIsRelayedEventByEventOverTls) {
    ASSERT_TRUE(startGateway(httpsConfig(https_.address(), "{verify: false}")));
    auto gate = std::make_shared<Gate>();
    // Content, not preamble: a stream's leading events without content are held back.
    const std::vector<std::string> events = {R"({"choices":[{"delta":{"content":"a"}}]})",
                                             "[DONE]"};
    https_.enqueue(Reply::gatedSse(events, gate));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chatRequest("/llm/chat/completions", true)));
    ASSERT_TRUE(https_.waitForRequests(1));

    expectEventsRelayedOneByOne(client, *gate, events);

    EXPECT_EQ(client.state(), StreamingClient::State::Complete) << client.error();
    EXPECT_EQ(client.status(), 200);
    EXPECT_EQ(client.headers().get("X-AIProxy-Upstream"), "primary");
}

}  // namespace
}  // namespace aiproxy::test
