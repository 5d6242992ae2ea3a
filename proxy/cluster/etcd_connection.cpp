#include "proxy/cluster/etcd_connection.hpp"

#include "proxy/tls/certificate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace keel::cluster {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxReplyBytes = 64 * 1024 * 1024;  // a range of a big prefix
constexpr std::size_t kStreamChunk = 16 * 1024;

std::string describe(const boost::system::error_code& ec, bool timed_out) {
  return timed_out ? std::string("timed out") : ec.message();
}

// Outside the coroutines: GCC 12 miscompiles conditional temporaries in them.
std::string stream_problem(const boost::system::error_code& ec) {
  if (ec == http::error::end_of_stream || ec == asio::error::eof) return "the stream ended";
  return ec.message();
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

http::request<http::string_body> make_request(const config::EtcdEndpoint& endpoint, std::string_view path,
                                              std::string body, std::string_view token) {
  http::request<http::string_body> request{http::verb::post, path, 11};
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  request.set(http::field::host, (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" +
                                     std::to_string(endpoint.port));
  request.set(http::field::content_type, "application/json");
  if (!token.empty()) request.set(http::field::authorization, token);
  request.body() = std::move(body);
  request.keep_alive(true);
  request.prepare_payload();
  return request;
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_etcd_tls_context(const std::optional<config::EtcdTls>& settings) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ERR_clear_error();
  const std::string ca_file = settings ? settings->ca_file : std::string();
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(native)
                                     : SSL_CTX_load_verify_file(native, ca_file.c_str());
  if (loaded != 1)
    throw std::runtime_error("cluster.etcd.tls: cannot load " +
                             (ca_file.empty() ? std::string("the system's CA certificates")
                                              : "ca_file '" + ca_file + "'") +
                             " (" + tls::last_openssl_error() + ")");
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  if (settings && !settings->certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, settings->certificate.c_str()) != 1)
      throw std::runtime_error("cluster.etcd.tls: cannot use certificate '" + settings->certificate + "' (" +
                               tls::last_openssl_error() + ")");
    if (SSL_CTX_use_PrivateKey_file(native, settings->private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(native) != 1)
      throw std::runtime_error("cluster.etcd.tls: cannot use private_key '" + settings->private_key + "' (" +
                               tls::last_openssl_error() + ")");
  }
  return context;
}

EtcdConnection::EtcdConnection(asio::io_context& io, config::EtcdEndpoint endpoint,
                               std::shared_ptr<asio::ssl::context> tls)
    : io_(io), endpoint_(std::move(endpoint)), tls_(std::move(tls)), deadline_(io) {}

EtcdConnection::~EtcdConnection() { close(); }

bool EtcdConnection::is_open() const { return stream_ && stream_->socket().is_open(); }

void EtcdConnection::close() {
  deadline_.cancel();
  if (stream_) {
    boost::system::error_code ignored;
    stream_->socket().close(ignored);
  }
}

void EtcdConnection::arm(std::chrono::milliseconds deadline) {
  timed_out_ = false;
  deadline_.expires_after(deadline);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    timed_out_ = true;
    if (stream_) {
      boost::system::error_code ignored;
      stream_->socket().close(ignored);
    }
  });
}

void EtcdConnection::disarm() { deadline_.cancel(); }

asio::awaitable<std::optional<std::string>> EtcdConnection::connect(std::chrono::milliseconds deadline) {
  close();
  stream_ = std::make_unique<tls::Stream>(asio::ip::tcp::socket(io_));
  buffer_.clear();
  stream_parser_.reset();
  keep_alive_ = false;
  asio::ip::tcp::resolver resolver(io_);
  arm(deadline);
  auto [resolve_ec, results] =
      co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port), nothrow);
  if (resolve_ec || timed_out_) {
    disarm();
    co_return "cannot resolve " + endpoint_.host + ": " + describe(resolve_ec, timed_out_);
  }
  auto [connect_ec, connected] = co_await asio::async_connect(stream_->socket(), results, nothrow);
  if (connect_ec || timed_out_) {
    disarm();
    close();
    co_return "cannot connect: " + describe(connect_ec, timed_out_);
  }
  stream_->socket().set_option(asio::ip::tcp::no_delay(true));
  if (endpoint_.https) {
    stream_->use_tls(*tls_);
    SSL* ssl = stream_->tls()->native_handle();
    const bool ip = is_ip_literal(endpoint_.host);
    if (!ip) SSL_set_tlsext_host_name(ssl, endpoint_.host.c_str());
    if (ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), endpoint_.host.c_str());
    else
      SSL_set1_host(ssl, endpoint_.host.c_str());
    auto [handshake_ec] = co_await stream_->tls()->async_handshake(asio::ssl::stream_base::client, nothrow);
    if (handshake_ec || timed_out_) {
      disarm();
      close();
      co_return "TLS handshake failed: " + describe(handshake_ec, timed_out_);
    }
  }
  disarm();
  keep_alive_ = true;
  co_return std::nullopt;
}

// Writes the request with `deadline` armed; it stays armed for the reply.
asio::awaitable<bool> EtcdConnection::send(std::string_view path, std::string body, std::string_view token,
                                           std::chrono::milliseconds deadline, std::string& problem) {
  auto request = make_request(endpoint_, path, std::move(body), token);
  arm(deadline);
  auto [write_ec, written] = co_await http::async_write(*stream_, request, nothrow);
  if (!write_ec && !timed_out_) co_return true;
  problem = "cannot send: " + describe(write_ec, timed_out_);
  disarm();
  close();
  co_return false;
}

asio::awaitable<std::optional<HttpReply>> EtcdConnection::post(std::string_view path, std::string body,
                                                               std::string_view token,
                                                               std::chrono::milliseconds deadline,
                                                               std::string& problem) {
  if (!is_open() || !keep_alive_) {
    problem = "not connected";
    co_return std::nullopt;
  }
  const bool sent = co_await send(path, std::move(body), token, deadline, problem);
  if (!sent) co_return std::nullopt;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  auto [read_ec, read] = co_await http::async_read(*stream_, buffer_, parser, nothrow);
  disarm();
  if (read_ec || timed_out_) {
    problem = "no reply: " + describe(read_ec, timed_out_);
    close();
    co_return std::nullopt;
  }
  keep_alive_ = parser.get().keep_alive();
  if (!keep_alive_) close();
  co_return HttpReply{.status = parser.get().result_int(), .body = std::move(parser.get().body())};
}

asio::awaitable<unsigned> EtcdConnection::open_stream(std::string_view path, std::string body,
                                                      std::string_view token, std::chrono::milliseconds deadline,
                                                      std::string& problem) {
  if (!is_open()) {
    problem = "not connected";
    co_return 0;
  }
  const bool sent = co_await send(path, std::move(body), token, deadline, problem);
  if (!sent) co_return 0;
  stream_parser_.emplace();
  stream_parser_->body_limit(boost::none);  // a watch never ends by itself
  auto [read_ec, read] = co_await http::async_read_header(*stream_, buffer_, *stream_parser_, nothrow);
  disarm();
  if (read_ec || timed_out_) {
    problem = "no reply: " + describe(read_ec, timed_out_);
    close();
    co_return 0;
  }
  co_return stream_parser_->get().result_int();
}

asio::awaitable<bool> EtcdConnection::read_stream(std::string& out, std::string& problem) {
  if (!stream_parser_ || !is_open()) {
    problem = "stream not open";
    co_return false;
  }
  if (stream_parser_->is_done()) {
    problem = "the stream ended";
    co_return false;
  }
  char chunk[kStreamChunk];
  auto& body = stream_parser_->get().body();
  body.data = chunk;
  body.size = sizeof chunk;
  // read_some: a watch message is small; async_read would wait for the whole chunk buffer.
  auto [ec, read] = co_await http::async_read_some(*stream_, buffer_, *stream_parser_, nothrow);
  if (ec == http::error::need_buffer) ec = {};
  if (ec) {
    problem = stream_problem(ec);
    close();
    co_return false;
  }
  out.append(chunk, sizeof chunk - body.size);
  co_return true;
}

}  // namespace keel::cluster
