#pragma once

// A self-signed certificate for the TLS mock backends, made in-process on first use so no key
// material is checked in. OpenSSL stays in the .cpp.

#include <string>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace aiproxy::test {

/// Makes `context` serve the process-wide test certificate: EC P-256, CN=localhost,
/// subjectAltName DNS:localhost, IP:127.0.0.1, valid from an hour ago for a day. It chains to
/// no trusted root, so a verifying client must reject it. Throws std::runtime_error on failure.
void useSelfSignedCertificate(ssl_ctx_st* context);

/// The same certificate in PEM, for a client that should trust it (e.g. as SSL_CERT_FILE).
std::string selfSignedCertificatePem();

/// A certificate and its (unencrypted) private key, both PEM.
struct PemCredentials {
    std::string certificate;
    std::string key;
};

/// A fresh certificate authority named `common_name` (self-signed, CA:TRUE, EC P-256), valid
/// from an hour ago for a day. Throws std::runtime_error on failure.
PemCredentials makeCertificateAuthority(const std::string& common_name);

/// A fresh leaf certificate named `common_name` with `serial`, signed by `issuer` (from
/// makeCertificateAuthority), for DNS:localhost and IP:127.0.0.1, usable by a server and by a
/// client. Throws std::runtime_error on failure.
PemCredentials makeSignedCertificate(const PemCredentials& issuer, const std::string& common_name,
                                     long serial);

}  // namespace aiproxy::test
