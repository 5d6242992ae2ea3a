// One HTTP/1.1 connection to one etcd endpoint (plain or TLS), on the control
// thread: unary POSTs with a deadline, or one streaming POST (a watch) read
// piece by piece.
#pragma once

#include "proxy/config/config.hpp"
#include "proxy/tls/stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace keel::cluster {

// The TLS client context for https endpoints (cluster.etcd.tls). Throws
// std::runtime_error naming the file that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_etcd_tls_context(const std::optional<config::EtcdTls>& settings);

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

class EtcdConnection {
 public:
  EtcdConnection(boost::asio::io_context& io, config::EtcdEndpoint endpoint,
                 std::shared_ptr<boost::asio::ssl::context> tls);
  ~EtcdConnection();

  const config::EtcdEndpoint& endpoint() const { return endpoint_; }

  // Resolves, connects and (https) handshakes within `deadline`. nullopt on
  // success, else why not.
  boost::asio::awaitable<std::optional<std::string>> connect(std::chrono::milliseconds deadline);
  // One POST and its whole reply within `deadline`; the connection stays open
  // for the next one unless the reply said otherwise. nullopt: the
  // connection failed (then it is closed) and `problem` says why.
  boost::asio::awaitable<std::optional<HttpReply>> post(std::string_view path, std::string body,
                                                        std::string_view token, std::chrono::milliseconds deadline,
                                                        std::string& problem);
  // A streaming POST: sends it and reads the reply's head (within `deadline`).
  // Returns the status, 0 on failure (`problem` says why).
  boost::asio::awaitable<unsigned> open_stream(std::string_view path, std::string body, std::string_view token,
                                               std::chrono::milliseconds deadline, std::string& problem);
  // The next bytes of the stream's body, appended to `out`; no deadline (a
  // watch may be quiet for long: close() ends it). False when the stream
  // ended or failed (`problem` says why).
  boost::asio::awaitable<bool> read_stream(std::string& out, std::string& problem);

  bool is_open() const;
  // Any pending operation ends with an error.
  void close();

 private:
  boost::asio::awaitable<bool> send(std::string_view path, std::string body, std::string_view token,
                                    std::chrono::milliseconds deadline, std::string& problem);
  void arm(std::chrono::milliseconds deadline);
  void disarm();

  boost::asio::io_context& io_;
  config::EtcdEndpoint endpoint_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<tls::Stream> stream_;
  boost::asio::steady_timer deadline_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> stream_parser_;
  bool timed_out_ = false;
  bool keep_alive_ = false;
};

}  // namespace keel::cluster
