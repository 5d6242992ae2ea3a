// Loading and checking certificate/key pairs with OpenSSL: shared by the
// config loader (--check-config, reload) and the TLS context builder, so both
// report the same problems in the same words.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace keel::tls {

// What is wrong with a pair, for FILE:LINE:COL messages: a problem with the
// certificate file is reported at the certificate key, one with the private
// key (unreadable, unparsable, not matching) at the private_key key.
struct PairProblem {
  enum class Where { none, certificate, private_key };
  Where where = Where::none;
  std::string message;  // empty when the pair is usable

  explicit operator bool() const { return where != Where::none; }
};

// Loads the PEM chain (leaf first) and the unencrypted PEM key into `context`
// and checks that the key belongs to the leaf. Any thread; reads both files.
PairProblem use_certificate_pair(SSL_CTX* context, const std::string& certificate_path,
                                 const std::string& private_key_path);

// The same on a scratch context, plus a warning (in `warning`) when the leaf
// certificate has expired or is not valid yet: keel still serves it, as nginx
// does, but the operator should know.
PairProblem check_certificate_pair(const std::string& certificate_path, const std::string& private_key_path,
                                   std::string& warning);

// Empty when `path` is a readable PEM file with at least one certificate (a CA
// bundle), else what is wrong, for messages.
std::string check_ca_file(const std::string& path);

// The message of the most recent OpenSSL error on this thread ("unknown" when
// none), and clears the queue.
std::string last_openssl_error();

}  // namespace keel::tls
