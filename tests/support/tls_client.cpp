#include "tests/support/tls_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/x509.h>

#include <algorithm>
#include <stdexcept>

namespace keel::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

TlsClient::TlsClient(const std::string& address, TlsClientOptions options, std::chrono::milliseconds deadline)
    : address_(address), options_(std::move(options)), deadline_(deadline), context_(asio::ssl::context::tls_client) {
  SSL_CTX* native = context_.native_handle();
  if (options_.allow_legacy) SSL_CTX_set_security_level(native, 0);
  if (options_.min_version != 0) SSL_CTX_set_min_proto_version(native, options_.min_version);
  if (options_.max_version != 0) SSL_CTX_set_max_proto_version(native, options_.max_version);
  if (!options_.alpn.empty())
    SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(options_.alpn.data()),
                            static_cast<unsigned>(options_.alpn.size()));
  // No client-side cache: freeing the context would mark its sessions not resumable.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  if (!options_.ca_file.empty()) {
    context_.load_verify_file(options_.ca_file);
    context_.set_verify_mode(asio::ssl::verify_peer);
  }
  stream_ = std::make_unique<asio::ssl::stream<tcp::socket>>(io_, context_);
}

// A clean close_notify exchange: OpenSSL marks the session of a connection
// freed without it as not resumable.
TlsClient::~TlsClient() {
  if (!stream_->next_layer().is_open() || SSL_is_init_finished(stream_->native_handle()) != 1) return;
  deadline_ = std::chrono::seconds(1);
  run([&](auto done) { stream_->async_shutdown(done); });
}

template <class Operation>
boost::system::error_code TlsClient::run(Operation operation) {
  boost::system::error_code result = asio::error::timed_out;
  bool done = false;
  operation([&](boost::system::error_code ec) {
    result = ec;
    done = true;
  });
  io_.restart();
  io_.run_for(deadline_);
  if (!done) {
    boost::system::error_code ignored;
    stream_->next_layer().close(ignored);
    io_.restart();
    io_.run_for(std::chrono::seconds(1));
    return asio::error::timed_out;
  }
  return result;
}

boost::system::error_code TlsClient::connect() {
  const auto colon = address_.rfind(':');
  const tcp::endpoint endpoint(asio::ip::make_address(address_.substr(0, colon)),
                               static_cast<unsigned short>(std::stoi(address_.substr(colon + 1))));
  auto ec = run([&](auto done) { stream_->next_layer().async_connect(endpoint, done); });
  if (ec) return ec;
  SSL* ssl = stream_->native_handle();
  if (!options_.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl, options_.server_name.c_str());
    if (!options_.ca_file.empty()) SSL_set1_host(ssl, options_.server_name.c_str());
  }
  if (options_.session != nullptr) SSL_set_session(ssl, options_.session);
  return run([&](auto done) { stream_->async_handshake(asio::ssl::stream_base::client, done); });
}

TlsClient::Response TlsClient::get(const std::string& target) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "keel.test");
  auto ec = run([&](auto done) {
    http::async_write(*stream_, request, [done](boost::system::error_code e, std::size_t) { done(e); });
  });
  if (ec) throw std::runtime_error("TLS client: cannot send the request: " + ec.message());
  Response response;
  ec = run([&](auto done) {
    http::async_read(*stream_, buffer_, response, [done](boost::system::error_code e, std::size_t) { done(e); });
  });
  if (ec) throw std::runtime_error("TLS client: no response: " + ec.message());
  return response;
}

void TlsClient::write(const std::string& bytes) {
  auto ec = run([&](auto done) {
    asio::async_write(*stream_, asio::buffer(bytes), [done](boost::system::error_code e, std::size_t) { done(e); });
  });
  if (ec) throw std::runtime_error("TLS client: cannot write: " + ec.message());
}

TlsClient::Response TlsClient::read_response() {
  Response response;
  auto ec = run([&](auto done) {
    http::async_read(*stream_, buffer_, response, [done](boost::system::error_code e, std::size_t) { done(e); });
  });
  if (ec) throw std::runtime_error("TLS client: no response: " + ec.message());
  return response;
}

std::string TlsClient::read_exactly(std::size_t size) {
  while (buffer_.size() < size) {
    std::size_t got = 0;
    auto ec = run([&](auto done) {
      stream_->async_read_some(buffer_.prepare(size - buffer_.size()), [done, &got](boost::system::error_code e, std::size_t n) {
        got = n;
        done(e);
      });
    });
    buffer_.commit(got);
    if (ec) break;
  }
  const std::size_t taken = std::min(size, buffer_.size());
  std::string data(static_cast<const char*>(buffer_.data().data()), taken);
  buffer_.consume(taken);
  return data;
}

std::string TlsClient::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(stream_->native_handle(), &data, &length);
  return std::string(reinterpret_cast<const char*>(data), length);
}

std::string TlsClient::version() const { return SSL_get_version(stream_->native_handle()); }

std::string TlsClient::peer_common_name() const {
  X509* peer = SSL_get1_peer_certificate(stream_->native_handle());
  if (peer == nullptr) return {};
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof name);
  X509_free(peer);
  return name;
}

bool TlsClient::resumed() const { return SSL_session_reused(stream_->native_handle()) == 1; }

SSL_SESSION* TlsClient::session() const { return SSL_get1_session(stream_->native_handle()); }

}  // namespace keel::test
