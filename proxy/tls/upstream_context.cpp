#include "proxy/tls/upstream_context.hpp"

#include "proxy/tls/certificate.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace keel::tls {

namespace ssl = boost::asio::ssl;

std::shared_ptr<const UpstreamContext> UpstreamContext::build(const config::UpstreamTls& settings) {
  std::shared_ptr<UpstreamContext> built(new UpstreamContext());
  built->verify_ = settings.verify;
  built->server_name_ = settings.server_name;
  built->context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = built->context_->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(native, kAlpn, sizeof kAlpn);
  if (settings.verify) {
    ERR_clear_error();
    const int loaded = settings.ca_file.empty() ? SSL_CTX_set_default_verify_paths(native)
                                                : SSL_CTX_load_verify_file(native, settings.ca_file.c_str());
    if (loaded != 1)
      throw std::runtime_error("cannot load " +
                               (settings.ca_file.empty() ? std::string("the system's CA certificates")
                                                         : "CA file '" + settings.ca_file + "'") +
                               " (" + last_openssl_error() + ")");
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  }
  return built;
}

bool UpstreamContext::prepare(SSL* ssl, std::string_view backend_address) const {
  std::string host = server_name_;
  if (host.empty()) {
    host = std::string(backend_address.substr(0, backend_address.rfind(':')));
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  }
  const bool is_ip = [&] {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    return !ec;
  }();
  // SNI carries host names only (RFC 6066).
  if (!is_ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
  if (!verify_) return true;
  if (is_ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  return SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace keel::tls
