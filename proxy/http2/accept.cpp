#include "proxy/http2/accept.hpp"

#include "proxy/http/error_response.hpp"
#include "proxy/http2/client_hello.hpp"
#include "proxy/http2/connection.hpp"
#include "proxy/http2/first_bytes.hpp"
#include "proxy/worker/client_connection.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace keel::http2 {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A client that sent part of the preface (or of its ClientHello) and paused:
// peeked again this often (a readiness wait would fire at once, the bytes
// being still unread).
constexpr auto kPartialPrefaceRetry = std::chrono::milliseconds(5);
// Plain HTTP on a TLS port: how much of the request is read (and dropped)
// before the 400, so that closing does not reset the connection under it.
constexpr std::size_t kDrainBytes = 16 * 1024;

enum class Route { wait, partial, tls, http2_tls, plain_http, closed };

// The bytes the client sent so far, still unread; nothing when it is gone.
std::optional<std::string_view> peek(tcp::socket& socket, std::span<char> buffer, Route& route) {
  const ssize_t got = ::recv(socket.native_handle(), buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
  if (got < 0) {
    route = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Route::wait : Route::closed;
    return std::nullopt;
  }
  if (got == 0) {
    route = Route::closed;
    return std::nullopt;
  }
  return std::string_view(buffer.data(), static_cast<std::size_t>(got));
}

// On a TLS listener with http2, the whole first record is peeked: a ClientHello
// offering h2 goes to the HTTP/2 connection (ALPN will choose h2: our
// preference), any other to the HTTP/1.1 one. Its ALPN never chooses h2 for a
// hello that offers none; a hello over 16 KiB (several records) is taken for
// one without h2, and if it did offer h2 that connection fails its first
// request (no known client sends one).
Route tls_route(tcp::socket& socket, bool http2) {
  Route route = Route::tls;
  std::array<char, kMaxHelloRecord> buffer;
  const auto bytes = peek(socket, std::span(buffer.data(), http2 ? buffer.size() : 1), route);
  if (!bytes) return route;
  if (classify_tls(*bytes) == FirstBytes::plain_http) return Route::plain_http;
  if (!http2) return Route::tls;
  switch (inspect_client_hello(*bytes)) {
    case HelloAlpn::need_more: return Route::partial;
    case HelloAlpn::offers_h2: return Route::http2_tls;
    default: return Route::tls;
  }
}


// Answers plain HTTP sent to a TLS port, as nginx does, then closes.
class PlainHttpOnTlsPort final : public worker::Expirable, public worker::ClientHandle {
 public:
  PlainHttpOnTlsPort(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket)
      : Expirable(worker.deadlines()), worker_(worker), shared_(shared), socket_(std::move(socket)) {
    worker_.register_client(*this);
  }
  ~PlainHttpOnTlsPort() override {
    shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
    worker_.client_closed();
  }

  static void run(std::unique_ptr<PlainHttpOnTlsPort> self) {
    PlainHttpOnTlsPort& port = *self;  // `self` moves into the handler below
    port.expires_after(port.worker_.snapshot().timeouts.client_header);
    // Whatever came with the request line is read first, then the answer.
    port.socket_.async_read_some(asio::buffer(port.drained_), [self = std::move(self)](boost::system::error_code ec,
                                                                                      std::size_t) mutable {
      if (ec) return;
      PlainHttpOnTlsPort& port = *self;
      http::write_error_response(port.answer_, boost::beast::http::status::bad_request, false,
                                 "plain HTTP request sent to an HTTPS port");
      asio::async_write(port.socket_, asio::buffer(port.answer_),
                        [self = std::move(self)](boost::system::error_code, std::size_t) {
                          boost::system::error_code ignored;
                          self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        });
    });
  }

  void close_when_idle() override {}  // it closes by itself, within client_header
  void park_idle() override {}

 private:
  void on_expired() override {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  worker::Worker& worker_;
  worker::SharedState& shared_;
  tcp::socket socket_;
  std::array<char, kDrainBytes> drained_;
  std::string answer_;
};

void dispatch(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket, const tcp::endpoint& peer,
              worker::Worker::TlsContext tls, Route route) {
  switch (route) {
    case Route::http2_tls:
      start_http2_connection(worker, shared, std::move(socket), peer, std::move(tls));
      return;
    case Route::plain_http:
      PlainHttpOnTlsPort::run(std::make_unique<PlainHttpOnTlsPort>(worker, shared, std::move(socket)));
      return;
    default:
      worker::start_client_connection(worker, shared, std::move(socket), peer, std::move(tls));
      return;
  }
}

// A connection whose first bytes have not arrived yet.
class Pending final : public worker::Expirable, public worker::ClientHandle {
 public:
  Pending(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket, const tcp::endpoint& peer,
          worker::Worker::TlsContext tls, bool http2)
      : Expirable(worker.deadlines()),
        worker_(worker),
        shared_(shared),
        socket_(std::move(socket)),
        peer_(peer),
        tls_(std::move(tls)),
        http2_(http2),
        retry_(socket_.get_executor()) {
    worker_.register_client(*this);
    expires_after(worker_.snapshot().timeouts.client_header);
  }
  ~Pending() override {
    if (counted_) {
      shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
      worker_.client_closed();
    }
  }

  static void wait(std::unique_ptr<Pending> self) {
    Pending& pending = *self;
    pending.socket_.async_wait(tcp::socket::wait_read, [self = std::move(self)](boost::system::error_code ec) mutable {
      if (ec) return;  // timed out, shut down, or reset
      Pending::decide(std::move(self));
    });
  }

  static void decide(std::unique_ptr<Pending> self) {
    const Route route = tls_route(self->socket_, self->http2_);
    if (route == Route::wait) return wait(std::move(self));
    if (route == Route::partial) {
      Pending& pending = *self;
      pending.retry_.expires_after(kPartialPrefaceRetry);
      pending.retry_.async_wait([self = std::move(self)](boost::system::error_code ec) mutable {
        if (!ec) Pending::decide(std::move(self));
      });
      return;
    }
    if (route == Route::closed) return;
    self->counted_ = false;  // from here the connection it becomes counts it
    dispatch(self->worker_, self->shared_, std::move(self->socket_), self->peer_, std::move(self->tls_), route);
  }

  void close_when_idle() override {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    retry_.cancel();
  }
  void park_idle() override {}

 private:
  void on_expired() override { close_when_idle(); }

  worker::Worker& worker_;
  worker::SharedState& shared_;
  tcp::socket socket_;
  tcp::endpoint peer_;
  worker::Worker::TlsContext tls_;
  bool http2_;
  bool counted_ = true;
  asio::steady_timer retry_;
};

}  // namespace

void start_tls_connection(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket,
                      const tcp::endpoint& peer, worker::Worker::TlsContext tls, bool http2) {
  const Route route = tls_route(socket, http2);
  if (route == Route::wait || route == Route::partial) {
    auto pending = std::make_unique<Pending>(worker, shared, std::move(socket), peer, std::move(tls), http2);
    if (route == Route::wait)
      Pending::wait(std::move(pending));
    else
      Pending::decide(std::move(pending));
    return;
  }
  if (route == Route::closed) {
    // Gone before a byte came: uncount it as a closing connection would.
    shared.client_connections.fetch_sub(1, std::memory_order_relaxed);
    worker.client_closed();
    return;
  }
  dispatch(worker, shared, std::move(socket), peer, std::move(tls), route);
}

}  // namespace keel::http2
