// The TLS side of one pool's backends: a client context built on the control
// thread (at start and reload), then only read by the workers through the
// routing snapshot.
#pragma once

#include "proxy/config/config.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace keel::tls {

class UpstreamContext {
 public:
  // Throws std::runtime_error naming the file when the CA file cannot be loaded.
  static std::shared_ptr<const UpstreamContext> build(const config::UpstreamTls& settings);

  boost::asio::ssl::context& context() const { return *context_; }
  bool verify() const { return verify_; }
  const std::string& server_name() const { return server_name_; }  // empty: the backend's host

  // Worker thread, before the handshake: SNI and the name (or IP address) the
  // certificate must match, from server_name or `backend_address` ("host:port").
  // False when OpenSSL refused the name.
  bool prepare(SSL* ssl, std::string_view backend_address) const;

 private:
  UpstreamContext() = default;
  std::unique_ptr<boost::asio::ssl::context> context_;
  bool verify_ = true;
  std::string server_name_;
};

}  // namespace keel::tls
