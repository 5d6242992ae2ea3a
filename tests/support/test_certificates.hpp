// Certificates made at test run time (no private key is committed): a test CA
// and leaf certificates it signs, written as PEM files into a directory.
// Header-only so that the config unit tests (which do not link the test
// support library) can use it too.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace keel::test {

struct CertificateFiles {
  std::string certificate;  // PEM path
  std::string private_key;  // PEM path
};

class TestCertificateAuthority {
 public:
  // A self-signed CA named `name`; P-256 keys keep generation fast.
  explicit TestCertificateAuthority(const std::string& name = "keel test CA")
      : key_(new_key(), &EVP_PKEY_free), certificate_(X509_new(), &X509_free) {
    X509* ca = certificate_.get();
    fill(ca, name, 0, 30, key_.get());
    X509_set_issuer_name(ca, X509_get_subject_name(ca));
    add_extension(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
    sign(ca, key_.get());
  }

  // Writes the CA certificate to `path` (for ca_file and clients' trust).
  void write_certificate(const std::string& path) const { write_pem(path, certificate_.get(), nullptr); }

  // A leaf for `names` (DNS names, or IP addresses such as "127.0.0.1"),
  // common name the first of them, valid from `from_days` to `to_days` from now
  // (negative: in the past). Writes DIR/STEM.crt and DIR/STEM.key.
  CertificateFiles issue(const std::string& directory, const std::string& stem,
                         const std::vector<std::string>& names, long from_days = -1, long to_days = 30) const {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(new_key(), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> leaf(X509_new(), &X509_free);
    fill(leaf.get(), names.at(0), from_days, to_days, key.get());
    X509_set_issuer_name(leaf.get(), X509_get_subject_name(certificate_.get()));
    std::string alt_names;
    for (const auto& name : names) {
      const bool is_ip = name.find_first_not_of("0123456789.") == std::string::npos;
      if (!alt_names.empty()) alt_names += ',';
      alt_names += is_ip ? "IP:" : "DNS:";
      alt_names += name;
    }
    add_extension(leaf.get(), certificate_.get(), NID_subject_alt_name, alt_names);
    add_extension(leaf.get(), certificate_.get(), NID_basic_constraints, "CA:FALSE");
    sign(leaf.get(), key_.get());
    CertificateFiles files{directory + "/" + stem + ".crt", directory + "/" + stem + ".key"};
    write_pem(files.certificate, leaf.get(), nullptr);
    write_pem(files.private_key, nullptr, key.get());
    return files;
  }

 private:
  static EVP_PKEY* new_key() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr) throw std::runtime_error("cannot generate a test key");
    return key;
  }
  static void fill(X509* certificate, const std::string& common_name, long from_days, long to_days,
                   EVP_PKEY* key) {
    static long serial = 1;
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial++);
    X509_gmtime_adj(X509_getm_notBefore(certificate), from_days * 86'400);
    X509_gmtime_adj(X509_getm_notAfter(certificate), to_days * 86'400);
    X509_NAME* subject = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
    X509_set_pubkey(certificate, key);
  }
  static void add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
    if (extension == nullptr) throw std::runtime_error("bad test certificate extension " + value);
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
  }
  static void sign(X509* certificate, EVP_PKEY* key) {
    if (X509_sign(certificate, key, EVP_sha256()) == 0) throw std::runtime_error("cannot sign a test certificate");
  }
  static void write_pem(const std::string& path, X509* certificate, EVP_PKEY* key) {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) throw std::runtime_error("cannot write " + path);
    const int ok = certificate != nullptr
                       ? PEM_write_X509(file, certificate)
                       : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(file);
    if (ok != 1) throw std::runtime_error("cannot write " + path);
  }

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_;
  std::unique_ptr<X509, decltype(&X509_free)> certificate_;
};

}  // namespace keel::test
