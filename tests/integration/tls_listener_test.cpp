// HTTPS on the data plane (server.tls), checked with curl as the client: requests and event
// streams are proxied over TLS, TLS 1.1 and plain HTTP are refused, client certificates are
// required when client_ca is set, and SIGHUP loads a renewed certificate for new connections
// while a stream on an old one goes on (a broken file keeps the old certificate).

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/gateway_test.hpp"
#include "support/self_signed_certificate.hpp"

namespace aiproxy::test {
namespace {

constexpr const char* kCurl = "/usr/bin/curl";
constexpr auto kCurlTimeout = 15s;

struct CurlResult {
    std::optional<int> exit_code;  // nullopt: still running at the timeout
    std::string output;            // body, then curl's own messages (stderr)
};

// Replaces `path` atomically, as a certificate renewal tool should.
void writeFile(const std::filesystem::path& path, const std::string& content) {
    auto staging = path;
    staging += ".tmp";
    {
        std::ofstream out(staging, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out) throw std::runtime_error("cannot write " + staging.string());
    }
    std::filesystem::rename(staging, path);
}

class TlsListenerTest : public GatewayTest {
protected:
    void SetUp() override {
        if (::access(kCurl, X_OK) != 0) GTEST_SKIP() << kCurl << " is not installed";
        authority_ = makeCertificateAuthority("aiproxy test CA");
        writeFile(dir() / "ca.pem", authority_.certificate);
        installServerCertificate(makeSignedCertificate(authority_, "gateway-one", 1001));
    }

    // The daemon's folder, which also holds its config: the config names the files relative
    // to it.
    std::filesystem::path dir() const { return daemon_.configPath().parent_path(); }

    void installServerCertificate(const PemCredentials& credentials) const {
        writeFile(dir() / "server.key", credentials.key);
        writeFile(dir() / "server.pem", credentials.certificate);
    }

    // `config` (default: baseConfig()) with server.tls; `extra`: more keys of it, e.g.
    // "client_ca: ca.pem".
    std::string tlsYaml(const std::string& extra = "",
                        std::optional<GatewayConfig> config = std::nullopt) const {
        std::string yaml = config.value_or(baseConfig()).yaml();
        std::string tls = "  tls: {cert: server.pem, key: server.key";
        if (!extra.empty()) tls += ", " + extra;
        tls += "}\n";
        yaml.insert(yaml.find("server:\n") + 8, tls);
        return yaml;
    }

    ::testing::AssertionResult startTlsGateway(const std::string& extra = "",
                                               std::optional<GatewayConfig> config = std::nullopt) {
        if (daemon_.start(tlsYaml(extra, std::move(config)))) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "aiproxyd did not start listening; its output:\n"
                                             << daemon_.stderrText();
    }

    std::string url() const {
        return "https://localhost:" + std::to_string(daemon_.port()) + "/llm/chat/completions";
    }

    // curl POSTing a chat completion to the gateway, trusting the test CA; `args` come first.
    std::vector<std::string> curlArgs(const std::vector<std::string>& args,
                                      bool stream = false) const {
        std::vector<std::string> argv{kCurl, "-sS",      "--max-time",
                                      "10",  "--cacert", (dir() / "ca.pem").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}])";
        body += stream ? R"(,"stream":true})" : "}";
        for (std::string arg :
             {std::string("-H"), std::string("Content-Type: application/json"), std::string("-d"),
              body, std::string("-w"), std::string("\nstatus=%{http_code}\n"), url()}) {
            argv.push_back(std::move(arg));
        }
        return argv;
    }

    CurlResult curl(const std::vector<std::string>& args = {}, bool stream = false) const {
        ChildProcess process{curlArgs(args, stream)};
        CurlResult result;
        result.exit_code = process.waitExit(kCurlTimeout);
        result.output = process.output();
        return result;
    }

    PemCredentials authority_;
};

// The subject curl -v reports for the certificate the gateway served.
bool servedCertificateIs(const std::string& verbose_output, const std::string& common_name) {
    return verbose_output.find("subject: CN=" + common_name) != std::string::npos;
}

TEST_F(TlsListenerTest, ProxiesAnHttpsRequestToThePlainBackend) {
    ASSERT_TRUE(startTlsGateway());

    CurlResult result = curl();

    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find(primary_.defaultBody()), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("status=200"), std::string::npos) << result.output;
    ASSERT_EQ(primary_.requestCount(), 1U);
    EXPECT_EQ(primary_.requests().front().headers.get("X-Forwarded-Proto"), "https");
    EXPECT_NE(daemon_.stderrText().find("(TLS)"), std::string::npos);
}

TEST_F(TlsListenerTest, ServesTls12AsWellAsTls13) {
    ASSERT_TRUE(startTlsGateway());

    CurlResult tls12 = curl({"--tlsv1.2", "--tls-max", "1.2", "-v"});
    CurlResult tls13 = curl({"--tlsv1.3", "-v"});

    EXPECT_EQ(tls12.exit_code, 0) << tls12.output;
    EXPECT_NE(tls12.output.find("SSL connection using TLSv1.2"), std::string::npos) << tls12.output;
    EXPECT_EQ(tls13.exit_code, 0) << tls13.output;
    EXPECT_NE(tls13.output.find("SSL connection using TLSv1.3"), std::string::npos) << tls13.output;
    EXPECT_EQ(primary_.requestCount(), 2U);
}

TEST_F(TlsListenerTest, RelaysAnEventStreamOverTls) {
    ASSERT_TRUE(startTlsGateway());
    primary_.enqueue(Reply::sse({"one", "two", "three"}));

    CurlResult result = curl({"-N"}, true);

    EXPECT_EQ(result.exit_code, 0) << result.output;
    auto one = result.output.find("data: one\n\n");
    auto two = result.output.find("data: two\n\n");
    auto three = result.output.find("data: three\n\n");
    ASSERT_NE(three, std::string::npos) << result.output;
    EXPECT_LT(one, two);
    EXPECT_LT(two, three);
    EXPECT_NE(result.output.find("status=200"), std::string::npos) << result.output;
}

TEST_F(TlsListenerTest, ATlsClientThatLeavesCancelsTheUpstreamCall) {
    GatewayConfig config = baseConfig();
    config.timeout_ms = 60'000;  // only the client's leaving can end the wait in time
    ASSERT_TRUE(startTlsGateway("", config));
    primary_.enqueue(Reply::hang());

    CurlResult result = curl({"--max-time", "1"});

    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_TRUE(primary_.waitForAbandonedHang()) << "the upstream call outlived the client";
}

TEST_F(TlsListenerTest, RefusesTls11) {
    ASSERT_TRUE(startTlsGateway());

    // SECLEVEL=0 lets this client offer TLS 1.1 at all, so the refusal is the gateway's.
    CurlResult result = curl({"--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"});

    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("alert protocol version"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("status=200"), std::string::npos) << result.output;
    EXPECT_EQ(primary_.requestCount(), 0U);
}

TEST_F(TlsListenerTest, PlainHttpOnTheTlsPortGetsNoHttpAnswer) {
    ASSERT_TRUE(startTlsGateway());
    RawConnection connection{daemon_.port()};
    ASSERT_TRUE(connection.connected());

    ASSERT_TRUE(connection.send("GET /llm/models HTTP/1.1\r\nHost: localhost\r\n\r\n"));

    EXPECT_TRUE(connection.waitClosed());
    EXPECT_EQ(connection.received().find("HTTP/"), std::string::npos) << connection.received();
    EXPECT_EQ(primary_.requestCount(), 0U);
}

TEST_F(TlsListenerTest, ClientCaRequiresACertificateItSigned) {
    PemCredentials client = makeSignedCertificate(authority_, "client-one", 2001);
    writeFile(dir() / "client.pem", client.certificate);
    writeFile(dir() / "client.key", client.key);
    PemCredentials stranger_ca = makeCertificateAuthority("another CA");
    PemCredentials stranger = makeSignedCertificate(stranger_ca, "stranger", 3001);
    writeFile(dir() / "stranger.pem", stranger.certificate);
    writeFile(dir() / "stranger.key", stranger.key);
    ASSERT_TRUE(startTlsGateway("client_ca: ca.pem"));

    CurlResult without = curl();
    CurlResult unknown = curl(
        {"--cert", (dir() / "stranger.pem").string(), "--key", (dir() / "stranger.key").string()});
    CurlResult signed_by_ca =
        curl({"--cert", (dir() / "client.pem").string(), "--key", (dir() / "client.key").string()});

    EXPECT_NE(without.exit_code, 0) << without.output;
    EXPECT_EQ(without.output.find("status=200"), std::string::npos) << without.output;
    EXPECT_NE(unknown.exit_code, 0) << unknown.output;
    EXPECT_EQ(unknown.output.find("status=200"), std::string::npos) << unknown.output;
    EXPECT_EQ(signed_by_ca.exit_code, 0) << signed_by_ca.output;
    EXPECT_NE(signed_by_ca.output.find("status=200"), std::string::npos) << signed_by_ca.output;
    EXPECT_EQ(primary_.requestCount(), 1U);
}

TEST_F(TlsListenerTest, SighupServesARenewedCertificateWhileAStreamOnTheOldOneGoesOn) {
    ASSERT_TRUE(startTlsGateway());
    auto gate = std::make_shared<Gate>();
    primary_.enqueue(Reply::gatedSse({"one", "two"}, gate));
    ChildProcess stream{curlArgs({"-N", "-v"}, true)};
    gate->release();
    ASSERT_TRUE(stream.waitForOutput("data: one", kWaitTimeout)) << stream.output();
    EXPECT_TRUE(servedCertificateIs(stream.output(), "gateway-one")) << stream.output();

    installServerCertificate(makeSignedCertificate(authority_, "gateway-two", 1002));
    std::size_t logged = daemon_.stderrText().size();
    ASSERT_TRUE(daemon_.signal(SIGHUP));
    ASSERT_TRUE(daemon_.waitForStderr("TLS certificate loaded", kWaitTimeout, logged));

    CurlResult renewed = curl({"-v"});
    EXPECT_EQ(renewed.exit_code, 0) << renewed.output;
    EXPECT_TRUE(servedCertificateIs(renewed.output, "gateway-two")) << renewed.output;

    gate->releaseAll();
    EXPECT_EQ(stream.waitExit(kCurlTimeout), 0) << stream.output();
    EXPECT_NE(stream.output().find("data: two\n\n"), std::string::npos) << stream.output();
    EXPECT_NE(stream.output().find("status=200"), std::string::npos) << stream.output();
}

TEST_F(TlsListenerTest, SighupWithABrokenCertificateKeepsTheOldOne) {
    ASSERT_TRUE(startTlsGateway());
    writeFile(dir() / "server.pem",
              "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    std::size_t logged = daemon_.stderrText().size();

    ASSERT_TRUE(daemon_.signal(SIGHUP));

    EXPECT_TRUE(daemon_.waitForStderr("the previous TLS certificate stays", kWaitTimeout, logged))
        << daemon_.stderrText();
    EXPECT_NE(daemon_.stderrText().find("server.tls.cert", logged), std::string::npos);
    CurlResult result = curl({"-v"});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_TRUE(servedCertificateIs(result.output, "gateway-one")) << result.output;
}

TEST_F(TlsListenerTest, UnusableCertificateStopsTheStartNamingTheFile) {
    // A key that belongs to another certificate: both files are PEM, only OpenSSL can tell.
    writeFile(dir() / "server.key", makeSignedCertificate(authority_, "other", 1003).key);

    EXPECT_FALSE(daemon_.start(tlsYaml()));

    EXPECT_EQ(daemon_.waitExit(), 1);
    EXPECT_NE(daemon_.stderrText().find("cannot start: server.tls.key"), std::string::npos)
        << daemon_.stderrText();
    EXPECT_NE(daemon_.stderrText().find("key values mismatch"), std::string::npos)
        << daemon_.stderrText();
}

TEST_F(TlsListenerTest, CheckResolvesFilesAgainstTheConfigFolderAndNamesAMissingOne) {
    // --check runs in the test's working directory, not the config's folder.
    daemon_.writeConfig(tlsYaml());
    RunResult valid = runAiproxyd({"--check", "-c", daemon_.configPath().string()});
    std::filesystem::remove(dir() / "server.key");
    RunResult missing = runAiproxyd({"--check", "-c", daemon_.configPath().string()});
    writeFile(dir() / "server.key", "not a key\n");
    RunResult not_pem = runAiproxyd({"--check", "-c", daemon_.configPath().string()});

    EXPECT_EQ(valid.exit_code, 0) << valid.output;
    EXPECT_EQ(missing.exit_code, 1) << missing.output;
    EXPECT_NE(missing.output.find("server.tls.key: cannot read " + (dir() / "server.key").string()),
              std::string::npos)
        << missing.output;
    EXPECT_EQ(not_pem.exit_code, 1) << not_pem.output;
    EXPECT_NE(not_pem.output.find("server.tls.key: " + (dir() / "server.key").string() +
                                  " is not a PEM file"),
              std::string::npos)
        << not_pem.output;
}

}  // namespace
}  // namespace aiproxy::test
