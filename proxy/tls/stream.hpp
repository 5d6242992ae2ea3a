// A connection's byte stream (client or upstream side): plain TCP, or TLS over it. One
// predictable branch per I/O operation picks the layer; no virtual call and no
// allocation beyond what the chosen layer does itself.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <cstddef>
#include <memory>

namespace keel::tls {

class Stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using executor_type = tcp::socket::executor_type;
  using TlsLayer = boost::asio::ssl::stream<tcp::socket&>;

  explicit Stream(tcp::socket socket) : socket_(std::move(socket)) {}
  // The TLS layer refers to socket_: the stream never moves.
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Before any I/O: speak TLS with `context` (which must outlive the stream).
  void use_tls(boost::asio::ssl::context& context) { tls_ = std::make_unique<TlsLayer>(socket_, context); }
  bool is_tls() const { return tls_ != nullptr; }
  TlsLayer* tls() { return tls_.get(); }
  // The TCP layer: endpoints, options, cancel, close.
  tcp::socket& socket() { return socket_; }

  executor_type get_executor() { return socket_.get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_)
            tls_->async_read_some(b, std::move(handler));
          else
            socket_.async_read_some(b, std::move(handler));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_)
            tls_->async_write_some(b, std::move(handler));
          else
            socket_.async_write_some(b, std::move(handler));
        },
        token, buffers);
  }

 private:
  tcp::socket socket_;
  // On the heap: a plain connection (and the idle memory it costs) stays small.
  std::unique_ptr<TlsLayer> tls_;
};

}  // namespace keel::tls
