#include "support/self_signed_certificate.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace aiproxy::test {
namespace {

struct KeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateDeleter {
    void operator()(X509* certificate) const { X509_free(certificate); }
};
struct ExtensionDeleter {
    void operator()(X509_EXTENSION* extension) const { X509_EXTENSION_free(extension); }
};
struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};

[[noreturn]] void fail(const std::string& what) {
    char reason[256] = "unknown error";
    if (unsigned long code = ERR_get_error(); code != 0) {
        ERR_error_string_n(code, reason, sizeof reason);
    }
    ERR_clear_error();
    throw std::runtime_error("self-signed certificate: " + what + ": " + reason);
}

struct Identity {
    std::unique_ptr<EVP_PKEY, KeyDeleter> key;
    std::unique_ptr<X509, CertificateDeleter> certificate;
};

Identity makeIdentity() {
    constexpr long kHour = 60 * 60;
    Identity identity;
    // P-256 rather than RSA-2048: key generation is instant, and TLS 1.2/1.3 clients all take it.
    identity.key.reset(EVP_EC_gen("P-256"));
    if (!identity.key) fail("EC key generation");
    identity.certificate.reset(X509_new());
    X509* certificate = identity.certificate.get();
    if (certificate == nullptr) fail("X509_new");
    X509_NAME* subject = X509_get_subject_name(certificate);
    const auto* common_name = reinterpret_cast<const unsigned char*>("localhost");
    if (X509_set_version(certificate, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(certificate), -kHour) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(certificate), 24 * kHour) == nullptr ||
        X509_set_pubkey(certificate, identity.key.get()) != 1 ||
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, common_name, -1, -1, 0) != 1 ||
        X509_set_issuer_name(certificate, subject) != 1) {
        fail("certificate fields");
    }
    X509V3_CTX extension_context;
    X509V3_set_ctx_nodb(&extension_context);
    X509V3_set_ctx(&extension_context, certificate, certificate, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, ExtensionDeleter> alt_names{X509V3_EXT_conf_nid(
        nullptr, &extension_context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1")};
    if (!alt_names || X509_add_ext(certificate, alt_names.get(), -1) != 1) {
        fail("subjectAltName");
    }
    if (X509_sign(certificate, identity.key.get(), EVP_sha256()) == 0) fail("signing");
    return identity;
}

// Made once: every TLS mock of the test process serves the same certificate.
const Identity& testIdentity() {
    static const Identity identity = makeIdentity();
    return identity;
}

}  // namespace

void useSelfSignedCertificate(ssl_ctx_st* context) {
    const Identity& identity = testIdentity();
    if (SSL_CTX_use_certificate(context, identity.certificate.get()) != 1 ||
        SSL_CTX_use_PrivateKey(context, identity.key.get()) != 1 ||
        SSL_CTX_check_private_key(context) != 1) {
        fail("loading into the TLS context");
    }
}

std::string selfSignedCertificatePem() {
    std::unique_ptr<BIO, BioDeleter> bio{BIO_new(BIO_s_mem())};
    if (!bio || PEM_write_bio_X509(bio.get(), testIdentity().certificate.get()) != 1) {
        fail("PEM encoding");
    }
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(size)};
}

}  // namespace aiproxy::test
