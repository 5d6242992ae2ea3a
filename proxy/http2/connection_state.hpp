// The HTTP/2 client connection's internals, shared by its I/O loop
// (connection.cpp) and the exchange each stream runs (stream_client.cpp).
#pragma once

#include "proxy/http2/session.hpp"
#include "proxy/tls/stream.hpp"
#include "proxy/worker/exchange.hpp"
#include "proxy/worker/exchange_buffers.hpp"
#include "proxy/worker/upstream_pool.hpp"
#include "proxy/worker/worker.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace keel::http2 {

class Connection;

// One stream while its exchange runs, and the exchange's client
// (worker::ExchangeClient): the response goes out as HEADERS, DATA and
// trailing HEADERS, the request body comes from DATA frames. Pooled per
// connection (stream_client.cpp).
class StreamTask final : public worker::ExchangeClient {
 public:
  explicit StreamTask(const boost::asio::any_io_executor& executor) : body_ready(executor), room(executor) {}
  void reset();

  // worker::ExchangeClient.
  tls::Stream* byte_stream() override { return nullptr; }
  void before_write(worker::Clock::duration) override {}
  void encode_head(const http::ResponseParser& response, const http::ResponseFraming& framing,
                   std::string& out) override;
  void encode_trailers(const std::vector<http::Field>& trailers, std::string& out) override;
  boost::asio::awaitable<bool> write(std::string_view framed, std::string_view tail) override;
  boost::asio::awaitable<bool> send_error(boost::beast::http::status status, std::string_view detail,
                                          bool keep_alive) override;
  boost::asio::awaitable<worker::BodyRead> read_body(std::string& out) override;
  void cancel_body() override;
  boost::asio::awaitable<void> tunnel(worker::UpstreamConnection& upstream, boost::beast::flat_buffer& pending,
                                      worker::Clock::duration idle) override;

  Connection* connection = nullptr;
  Stream* stream = nullptr;
  std::size_t slot = 0;  // in the connection's active list
  std::unique_ptr<worker::ExchangeBuffers> buffers;  // while the exchange runs
  std::string request_body;  // DATA bytes not yet handed to the upload
  std::uint64_t request_body_bytes = 0;
  std::size_t unconsumed = 0;  // handed to the upload, not yet given back to the client's window
  worker::Clock::duration idle{};  // timeouts.idle when the stream began
  bool request_body_done = false;
  bool chunked_upload = false;   // the backend gets the body in chunks (no content-length)
  bool cancelled = false;        // the client reset the stream, or the connection died
  bool body_cancelled = false;   // the exchange gave up the request body
  bool body_too_large = false;
  bool reset_sent = false;
  boost::asio::steady_timer body_ready;  // the upload waits for DATA
  boost::asio::steady_timer room;        // the response relay waits for the client to read
};

class Connection final : public worker::Expirable, public worker::ClientHandle, public SessionEvents {
 public:
  // With `tls`, the connection starts with a TLS handshake.
  Connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
             std::string client_ip, worker::Worker::TlsContext tls);
  ~Connection() override;

  // Starts the reader and the writer; the connection deletes itself when they
  // and every stream's exchange have ended. `read`: client bytes already read
  // (h2c: by the HTTP/1.1 connection that found the preface), taken first.
  static void start(std::unique_ptr<Connection> self, std::string_view read = {});

  // ClientHandle: SIGTERM sends GOAWAY and open streams finish.
  void close_when_idle() override;
  void park_idle() override {}

  // SessionEvents.
  void on_request(Stream& stream) override;
  void on_request_body(Stream& stream, std::string_view bytes) override;
  void on_request_end(Stream& stream) override;
  void on_response_room(Stream& stream) override;
  void on_stream_closed(Stream& stream) override;

  worker::Worker& worker() { return worker_; }
  Session& session() { return session_; }
  tls::Stream& client() { return stream_; }
  const std::string& client_ip() const { return client_ip_; }
  // Frames are pending: the writer wakes.
  void wake_writer() { write_wake_.cancel(); }

 private:
  void on_expired() override;
  boost::asio::awaitable<void> read_loop();
  // Client bytes into the session; false once the connection is draining.
  bool take(std::span<const std::uint8_t> bytes);
  // TLS only: the handshake, under timeouts.client_header; false if it failed
  // or did not choose h2.
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> run_stream(StreamTask* task);
  void task_ended();  // deletes this after the last one
  void close_socket();
  void refresh_deadline();
  // Ends a stream's exchange early: its backend request is abandoned.
  void cancel(StreamTask& task);

  worker::Worker& worker_;
  worker::SharedState& shared_;
  tls::Stream stream_;
  worker::Worker::TlsContext tls_;  // keeps the certificates this connection started with
  std::string client_ip_;
  Session session_;
  std::array<std::uint8_t, 16 * 1024> read_buffer_;
  std::string first_read_;  // bytes read before this connection began (h2c hand-off)
  std::string write_buffer_;
  boost::asio::steady_timer write_wake_;
  std::vector<std::unique_ptr<StreamTask>> free_tasks_;
  std::vector<StreamTask*> active_;  // exchanges running
  std::size_t running_ = 0;  // the reader, the writer and the stream exchanges
  bool draining_ = false;  // no more input for the session: lingering before the close
  bool closed_ = false;
};

// The exchange one stream runs (stream_client.cpp): its request head through
// the same guard as HTTP/1.1, then the shared worker::Exchange.
boost::asio::awaitable<void> run_exchange(Connection& connection, StreamTask& task);
// Resets the stream once (the client must not take a cut response for a whole one).
void reset_stream(Connection& connection, StreamTask& task, std::uint32_t error_code);

}  // namespace keel::http2
