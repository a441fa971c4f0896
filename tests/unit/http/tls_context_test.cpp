// makeServerTlsContext and TlsContextHolder: what server.tls loads, what it refuses (with a
// message naming the field and the file), and that a failed reload keeps the current context.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "aiproxy/http/tls_context.hpp"
#include "support/self_signed_certificate.hpp"

namespace aiproxy::http {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class TlsContextTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "aiproxy-tls-XXXXXX");
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        ca_ = test::makeCertificateAuthority("Test CA");
        leaf_ = test::makeSignedCertificate(ca_, "localhost", 2);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& content) {
        auto path = dir_ / name;
        std::ofstream{path} << content;
        return path.string();
    }
    TlsFiles leafFiles() {
        return {.cert = write("cert.pem", leaf_.certificate), .key = write("key.pem", leaf_.key)};
    }

    std::filesystem::path dir_;
    test::PemCredentials ca_;
    test::PemCredentials leaf_;
};

TEST_F(TlsContextTest, LoadsACertificateAndKeyWithTls12AsTheMinimum) {
    std::string error;
    auto context = makeServerTlsContext(leafFiles(), error);

    ASSERT_TRUE(context) << error;
    EXPECT_EQ(error, "");
    SSL_CTX* native = context->native_handle();
    EXPECT_EQ(SSL_CTX_get_min_proto_version(native), TLS1_2_VERSION);
    EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_NO_COMPRESSION, 0U);
    EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_NO_RENEGOTIATION, 0U);
    // Without client_ca, clients are not asked for a certificate.
    EXPECT_EQ(SSL_CTX_get_verify_mode(native), SSL_VERIFY_NONE);
}

TEST_F(TlsContextTest, AClientCaMakesClientCertificatesRequired) {
    TlsFiles files = leafFiles();
    files.client_ca = write("ca.pem", ca_.certificate);
    std::string error;
    auto context = makeServerTlsContext(files, error);

    ASSERT_TRUE(context) << error;
    EXPECT_EQ(SSL_CTX_get_verify_mode(context->native_handle()),
              SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    STACK_OF(X509_NAME)* names = SSL_CTX_get_client_CA_list(context->native_handle());
    ASSERT_NE(names, nullptr);
    EXPECT_EQ(sk_X509_NAME_num(names), 1);
}

TEST_F(TlsContextTest, AMissingCertificateFileIsNamed) {
    TlsFiles files = leafFiles();
    files.cert = (dir_ / "absent.pem").string();
    std::string error;

    EXPECT_FALSE(makeServerTlsContext(files, error));
    EXPECT_THAT(error, StartsWith("server.tls.cert: cannot load the certificate chain from " +
                                  files.cert + ": "));
}

TEST_F(TlsContextTest, GarbageInsteadOfACertificateIsRefused) {
    TlsFiles files = leafFiles();
    files.cert = write("garbage.pem", "not a certificate\n");
    std::string error;

    EXPECT_FALSE(makeServerTlsContext(files, error));
    EXPECT_THAT(error, StartsWith("server.tls.cert: "));
}

TEST_F(TlsContextTest, AKeyOfAnotherCertificateIsRefused) {
    TlsFiles files = leafFiles();
    auto other = test::makeSignedCertificate(ca_, "other", 3);
    files.key = write("other-key.pem", other.key);
    std::string error;

    EXPECT_FALSE(makeServerTlsContext(files, error));
    EXPECT_THAT(error, StartsWith("server.tls.key: cannot load the private key from " + files.key));
    EXPECT_THAT(error, HasSubstr("mismatch"));
}

TEST_F(TlsContextTest, AnUnreadableClientCaIsNamed) {
    TlsFiles files = leafFiles();
    files.client_ca =
        write("ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    std::string error;

    EXPECT_FALSE(makeServerTlsContext(files, error));
    EXPECT_THAT(error, StartsWith("server.tls.client_ca: "));
    EXPECT_THAT(error, HasSubstr(files.client_ca));
}

TEST_F(TlsContextTest, TheHolderThrowsTheMessageAtStartup) {
    TlsFiles files = leafFiles();
    files.key = (dir_ / "absent-key.pem").string();
    try {
        TlsContextHolder holder{files};
        FAIL() << "no exception";
    } catch (const std::runtime_error& error) {
        EXPECT_THAT(error.what(), StartsWith("server.tls.key: "));
    }
}

TEST_F(TlsContextTest, AFailedReloadKeepsTheCurrentContextAndASuccessfulOneReplacesIt) {
    TlsFiles files = leafFiles();
    TlsContextHolder holder{files};
    TlsContextPtr first = holder.current();
    ASSERT_TRUE(first);

    TlsFiles broken = files;
    broken.cert = write("broken.pem", "garbage");
    auto error = holder.reload(broken);
    ASSERT_TRUE(error);
    EXPECT_THAT(*error, StartsWith("server.tls.cert: "));
    EXPECT_EQ(holder.current(), first);

    EXPECT_EQ(holder.reload(files), std::nullopt);
    EXPECT_NE(holder.current(), first);
    EXPECT_TRUE(holder.current());
}

}  // namespace
}  // namespace aiproxy::http
