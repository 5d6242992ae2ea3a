#include "proxy/tls/server_context.hpp"

#include "proxy/tls/certificate.hpp"
#include "proxy/tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <stdexcept>

namespace keel::tls {
namespace {

namespace ssl = boost::asio::ssl;

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
// Server preference: h2 first, then http/1.1 (RFC 7301 lets the server choose).
constexpr unsigned char kAlpnH2Http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kSessionIdContext[] = {'k', 'e', 'e', 'l'};
constexpr long kSessionTimeoutSeconds = 3600;  // within the ticket key rotation
constexpr long kSessionCacheSize = 20'480;

// A client offering nothing we speak gets no ALPN answer rather than a fatal
// alert, as HAProxy does: it may still fall back to HTTP/1.1. `http2` is the
// listener's setting, passed as the callback's argument.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void* http2) {
  const std::string_view chosen = select_alpn_protocol({in, in_length}, http2 != nullptr);
  if (chosen.empty()) return SSL_TLSEXT_ERR_NOACK;
  *out = reinterpret_cast<const unsigned char*>(chosen.data());
  *out_length = static_cast<unsigned char>(chosen.size());
  return SSL_TLSEXT_ERR_OK;
}

// OpenSSL's ticket callback: 1 = use this key, 2 = use it and issue a new
// ticket, 0 = unknown key (full handshake), -1 = error.
int ticket_key(SSL*, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
               int encrypt) {
  auto& ring = TicketKeyRing::process_wide();
  const auto now = TicketKeyRing::Clock::now();
  TicketKey key;
  bool is_current = true;
  if (encrypt == 1) {
    key = ring.current(now);
    std::memcpy(key_name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
  } else {
    auto found = ring.find(key_name, now, is_current);
    if (!found) return 0;
    key = *found;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac_key.data(), key.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  const int ok = encrypt == 1
                     ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.cipher_key.data(), iv)
                     : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.cipher_key.data(), iv);
  if (ok != 1) return -1;
  return is_current ? 1 : 2;
}

std::unique_ptr<ssl::context> make_context(const config::CertificatePair& pair, bool http2) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  auto fail = [&](const std::string& what) {
    throw std::runtime_error("TLS context for '" + pair.certificate + "': " + what + " (" +
                             last_openssl_error() + ")");
  };
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) fail("cannot require TLS 1.2");
  if (SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) != 1) fail("cannot allow TLS 1.3");
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) fail("cannot set the cipher list");
  if (SSL_CTX_set1_groups_list(native, "X25519:P-256:P-384") != 1) fail("cannot set the key exchange groups");
  // Client-initiated renegotiation only costs the server CPU; compression leaks (CRIME).
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_SSLv3 |
                                  SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  // Any non-null argument means "h2 too"; the callback reads nothing through it.
  static int h2_marker;
  SSL_CTX_set_alpn_select_cb(native, &select_alpn, http2 ? &h2_marker : nullptr);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(native, &ticket_key);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(native, kSessionCacheSize);
  SSL_CTX_set_timeout(native, kSessionTimeoutSeconds);
  if (SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext) != 1)
    fail("cannot set the session id context");
  SSL_CTX_set_default_passwd_cb(native, [](char*, int, int, void*) { return 0; });
  if (auto problem = use_certificate_pair(native, pair.certificate, pair.private_key))
    throw std::runtime_error(problem.message);
  return context;
}

}  // namespace

std::string_view select_alpn_protocol(std::span<const unsigned char> offered, bool http2) {
  const unsigned char* ours = http2 ? kAlpnH2Http11 : kAlpnHttp11;
  const unsigned int ours_length = http2 ? sizeof kAlpnH2Http11 : sizeof kAlpnHttp11;
  unsigned char* selected = nullptr;
  unsigned char selected_length = 0;
  // Walks our list in order and takes the first the client offers; it only
  // reads both lists (the casts are OpenSSL's signature).
  if (SSL_select_next_proto(&selected, &selected_length, ours, ours_length, offered.data(),
                            static_cast<unsigned int>(offered.size())) != OPENSSL_NPN_NEGOTIATED)
    return {};
  return {reinterpret_cast<const char*>(selected), selected_length};
}

std::shared_ptr<const ServerContext> ServerContext::build(const config::ListenerTls& tls, bool http2) {
  if (tls.certificates.empty()) throw std::runtime_error("a TLS listener needs at least one certificate");
  std::shared_ptr<ServerContext> built(new ServerContext());
  for (const auto& pair : tls.certificates) built->contexts_.push_back(make_context(pair, http2));
  if (built->contexts_.size() > 1) {
    SSL_CTX* initial = built->contexts_.front()->native_handle();
    SSL_CTX_set_tlsext_servername_callback(initial, &ServerContext::on_server_name);
    SSL_CTX_set_tlsext_servername_arg(initial, built.get());
  }
  return built;
}

// Worker thread, inside a handshake. The first certificate (in config order)
// whose names cover the requested one wins; no match keeps the default, as
// nginx's default_server does.
int ServerContext::on_server_name(SSL* ssl, int*, void* self) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || *name == '\0') return SSL_TLSEXT_ERR_OK;
  const auto& contexts = static_cast<const ServerContext*>(self)->contexts_;
  for (const auto& context : contexts) {
    X509* certificate = SSL_CTX_get0_certificate(context->native_handle());
    if (certificate != nullptr && X509_check_host(certificate, name, 0, 0, nullptr) == 1) {
      if (context != contexts.front()) SSL_set_SSL_CTX(ssl, context->native_handle());
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace keel::tls
