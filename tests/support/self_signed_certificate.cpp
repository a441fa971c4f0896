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

std::string bioText(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return {data, static_cast<std::size_t>(size)};
}

void addExtension(X509* certificate, X509V3_CTX& context, int nid, const char* value) {
    std::unique_ptr<X509_EXTENSION, ExtensionDeleter> extension{
        X509V3_EXT_conf_nid(nullptr, &context, nid, value)};
    if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
        fail(std::string("extension ") + value);
    }
}

enum class Role {
    SelfSignedServer,  // the mocks' certificate: self-signed, only a subjectAltName
    Authority,         // self-signed CA
    Leaf,              // server and client certificate signed by an issuer
};

// issuer: the signer of a Leaf; null otherwise.
Identity makeCertificate(const std::string& common_name, long serial, Role role,
                         const Identity* issuer = nullptr) {
    constexpr long kHour = 60 * 60;
    Identity identity;
    // P-256 rather than RSA-2048: key generation is instant, and TLS 1.2/1.3 clients all take it.
    identity.key.reset(EVP_EC_gen("P-256"));
    if (!identity.key) fail("EC key generation");
    identity.certificate.reset(X509_new());
    X509* certificate = identity.certificate.get();
    if (certificate == nullptr) fail("X509_new");
    X509_NAME* subject = X509_get_subject_name(certificate);
    const auto* name = reinterpret_cast<const unsigned char*>(common_name.c_str());
    X509* issuer_certificate = issuer ? issuer->certificate.get() : certificate;
    if (X509_set_version(certificate, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(certificate), -kHour) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(certificate), 24 * kHour) == nullptr ||
        X509_set_pubkey(certificate, identity.key.get()) != 1 ||
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, name, -1, -1, 0) != 1 ||
        X509_set_issuer_name(certificate, X509_get_subject_name(issuer_certificate)) != 1) {
        fail("certificate fields");
    }
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer_certificate, certificate, nullptr, nullptr, 0);
    switch (role) {
        case Role::SelfSignedServer:
            addExtension(certificate, context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
            break;
        case Role::Authority:
            addExtension(certificate, context, NID_subject_key_identifier, "hash");
            addExtension(certificate, context, NID_basic_constraints, "critical,CA:TRUE");
            addExtension(certificate, context, NID_key_usage, "critical,keyCertSign,cRLSign");
            break;
        case Role::Leaf:
            addExtension(certificate, context, NID_subject_key_identifier, "hash");
            addExtension(certificate, context, NID_basic_constraints, "CA:FALSE");
            addExtension(certificate, context, NID_authority_key_identifier, "keyid");
            addExtension(certificate, context, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
            addExtension(certificate, context, NID_ext_key_usage, "serverAuth,clientAuth");
            break;
    }
    EVP_PKEY* signing_key = issuer ? issuer->key.get() : identity.key.get();
    if (X509_sign(certificate, signing_key, EVP_sha256()) == 0) fail("signing");
    return identity;
}

// Made once: every TLS mock of the test process serves the same certificate.
const Identity& testIdentity() {
    static const Identity identity = makeCertificate("localhost", 1, Role::SelfSignedServer);
    return identity;
}

PemCredentials toPem(const Identity& identity) {
    std::unique_ptr<BIO, BioDeleter> certificate{BIO_new(BIO_s_mem())};
    std::unique_ptr<BIO, BioDeleter> key{BIO_new(BIO_s_mem())};
    if (!certificate || !key ||
        PEM_write_bio_X509(certificate.get(), identity.certificate.get()) != 1 ||
        PEM_write_bio_PrivateKey(key.get(), identity.key.get(), nullptr, nullptr, 0, nullptr,
                                 nullptr) != 1) {
        fail("PEM encoding");
    }
    return {bioText(certificate.get()), bioText(key.get())};
}

Identity fromPem(const PemCredentials& pem) {
    std::unique_ptr<BIO, BioDeleter> certificate{
        BIO_new_mem_buf(pem.certificate.data(), static_cast<int>(pem.certificate.size()))};
    std::unique_ptr<BIO, BioDeleter> key{
        BIO_new_mem_buf(pem.key.data(), static_cast<int>(pem.key.size()))};
    Identity identity;
    if (certificate) {
        identity.certificate.reset(PEM_read_bio_X509(certificate.get(), nullptr, nullptr, nullptr));
    }
    if (key) identity.key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr));
    if (!identity.certificate || !identity.key) fail("PEM decoding");
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
    return bioText(bio.get());
}

PemCredentials makeCertificateAuthority(const std::string& common_name) {
    Identity authority = makeCertificate(common_name, 1, Role::Authority);
    return toPem(authority);
}

PemCredentials makeSignedCertificate(const PemCredentials& issuer, const std::string& common_name,
                                     long serial) {
    Identity signer = fromPem(issuer);
    return toPem(makeCertificate(common_name, serial, Role::Leaf, &signer));
}

}  // namespace aiproxy::test
