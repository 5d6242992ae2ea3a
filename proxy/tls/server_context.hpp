// The TLS side of one HTTPS listener: an OpenSSL context per certificate,
// built once (at start or reload, on the control thread) and then only read.
// Workers share it through a shared_ptr held by the listener and by every
// connection accepted on it, so a reload that brings new certificates leaves
// the connections of the old ones untouched.
#pragma once

#include "proxy/config/config.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace keel::tls {

class ServerContext {
 public:
  // Reads the certificates and keys again (they may have changed since the
  // config was checked). Throws std::runtime_error saying which file is wrong.
  // With `http2`, ALPN offers "h2" before "http/1.1".
  static std::shared_ptr<const ServerContext> build(const config::ListenerTls& tls, bool http2 = false);

  // The context a connection starts with: the first certificate's. During the
  // handshake, SNI switches to the first certificate whose names match.
  boost::asio::ssl::context& initial() const { return *contexts_.front(); }

  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

 private:
  ServerContext() = default;
  static int on_server_name(SSL* ssl, int* alert, void* self);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;  // in config order
};

// The ALPN protocol chosen from a ClientHello's list (wire format: length-
// prefixed names): with `http2`, "h2" if offered, else "http/1.1" if offered;
// empty when none is (no ALPN answer). Views static memory.
std::string_view select_alpn_protocol(std::span<const unsigned char> offered, bool http2);

// The protocol settings every server context gets (exposed for tests):
// TLS 1.2 and 1.3 only, Mozilla "intermediate" ECDHE AEAD ciphers for TLS 1.2.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace keel::tls
