#include "proxy/tls/certificate.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace keel::tls {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct ContextFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};

// Refuses instead of prompting on the terminal for an encrypted key's passphrase.
int no_passphrase(char*, int, int, void*) { return 0; }

// Empty when the file can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::strerror(errno);
  std::fclose(file);
  return {};
}

std::string asn1_time_text(const ASN1_TIME* time) {
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_mem()));
  if (!out || ASN1_TIME_print(out.get(), time) != 1) return "an unreadable date";
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

std::string last_openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

PairProblem use_certificate_pair(SSL_CTX* context, const std::string& certificate_path,
                                 const std::string& private_key_path) {
  using Where = PairProblem::Where;
  ERR_clear_error();
  if (auto why = unreadable(certificate_path); !why.empty())
    return {Where::certificate, "cannot read certificate file '" + certificate_path + "': " + why};
  if (SSL_CTX_use_certificate_chain_file(context, certificate_path.c_str()) != 1)
    return {Where::certificate, "'" + certificate_path + "' does not hold a valid PEM certificate (" +
                                    last_openssl_error() + ")"};

  if (auto why = unreadable(private_key_path); !why.empty())
    return {Where::private_key, "cannot read private key file '" + private_key_path + "': " + why};
  std::unique_ptr<BIO, BioFree> key_file(BIO_new_file(private_key_path.c_str(), "rb"));
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      key_file ? PEM_read_bio_PrivateKey(key_file.get(), nullptr, &no_passphrase, nullptr) : nullptr);
  if (!key)
    return {Where::private_key, "'" + private_key_path +
                                    "' does not hold a valid unencrypted PEM private key (" +
                                    last_openssl_error() + ")"};
  X509* leaf = SSL_CTX_get0_certificate(context);
  if (leaf == nullptr || X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return {Where::private_key,
            "private key '" + private_key_path + "' does not match certificate '" + certificate_path + "'"};
  }
  if (SSL_CTX_use_PrivateKey(context, key.get()) != 1)
    return {Where::private_key, "cannot use private key '" + private_key_path + "' (" + last_openssl_error() + ")"};
  return {};
}

PairProblem check_certificate_pair(const std::string& certificate_path, const std::string& private_key_path,
                                   std::string& warning) {
  std::unique_ptr<SSL_CTX, ContextFree> context(SSL_CTX_new(TLS_server_method()));
  if (!context) return {PairProblem::Where::certificate, "cannot create a TLS context (" + last_openssl_error() + ")"};
  SSL_CTX_set_default_passwd_cb(context.get(), &no_passphrase);
  auto problem = use_certificate_pair(context.get(), certificate_path, private_key_path);
  if (problem) return problem;
  const X509* leaf = SSL_CTX_get0_certificate(context.get());
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
    warning = "certificate '" + certificate_path + "' expired on " + asn1_time_text(X509_get0_notAfter(leaf)) +
              "; clients will refuse it";
  else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
    warning = "certificate '" + certificate_path + "' is not valid before " +
              asn1_time_text(X509_get0_notBefore(leaf)) + "; clients will refuse it until then";
  return problem;
}

std::string check_ca_file(const std::string& path) {
  if (auto why = unreadable(path); !why.empty()) return "cannot read CA file '" + path + "': " + why;
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  ERR_clear_error();
  if (!store || X509_STORE_load_file(store.get(), path.c_str()) != 1)
    return "'" + path + "' does not hold valid PEM CA certificates (" + last_openssl_error() + ")";
  return {};
}

}  // namespace keel::tls
