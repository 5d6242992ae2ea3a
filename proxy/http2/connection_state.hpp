// The HTTP/2 client connection's internals, shared by its I/O loop
// (connection.cpp) and the exchange each stream runs (stream_exchange.cpp).
#pragma once

#include "proxy/http2/session.hpp"
#include "proxy/tls/stream.hpp"
#include "proxy/worker/exchange_buffers.hpp"
#include "proxy/worker/upstream_pool.hpp"
#include "proxy/worker/worker.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace keel::http2 {

class Connection;

// One stream's I/O state while its exchange runs; pooled per connection.
struct StreamTask {
  explicit StreamTask(const boost::asio::any_io_executor& executor) : body_ready(executor), room(executor) {}
  void reset();

  Connection* connection = nullptr;
  Stream* stream = nullptr;
  std::size_t slot = 0;  // in the connection's active list
  std::unique_ptr<worker::ExchangeBuffers> buffers;
  std::string request_body;  // DATA bytes not yet written upstream (at most one window)
  std::string sending;       // the bytes of the write in flight
  std::uint64_t request_body_bytes = 0;
  bool request_body_done = false;
  bool chunked_upload = false;
  bool uploading = false;
  bool cancelled = false;          // the client reset the stream, or the connection died
  bool body_too_large = false;
  worker::UpstreamConnection* upstream = nullptr;  // while forwarding
  boost::asio::steady_timer body_ready;  // the upload pump waits for DATA
  boost::asio::steady_timer room;        // the response relay waits for the client to read
};

class Connection final : public worker::Expirable, public worker::ClientHandle, public SessionEvents {
 public:
  // With `tls`, the connection starts with a TLS handshake.
  Connection(worker::Worker& worker, worker::SharedState& shared, boost::asio::ip::tcp::socket socket,
             std::string client_ip, worker::Worker::TlsContext tls);
  ~Connection() override;

  // Starts the reader and the writer; the connection deletes itself when they
  // and every stream's exchange have ended.
  static void start(std::unique_ptr<Connection> self);

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
  std::string write_buffer_;
  boost::asio::steady_timer write_wake_;
  std::vector<std::unique_ptr<StreamTask>> free_tasks_;
  std::vector<StreamTask*> active_;  // exchanges running
  std::size_t running_ = 0;  // the reader, the writer and the stream exchanges
  bool draining_ = false;  // no more input for the session: lingering before the close
  bool closed_ = false;
};

// The exchange one stream runs: route, pick, forward, relay (stream_exchange.cpp).
// TODO(#12): drive the shared Exchange once the HTTP/1.1 refactor lands.
boost::asio::awaitable<void> run_exchange(Connection& connection, StreamTask& task);
// Written into a task's upload: what the request body pump does.
boost::asio::awaitable<void> pump_upload(Connection& connection, StreamTask& task);

}  // namespace keel::http2
