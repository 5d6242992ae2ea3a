#include "proxy/http2/connection.hpp"

#include "proxy/http/address_text.hpp"
#include "proxy/http2/connection_state.hpp"
#include "proxy/tls/server_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into its
// operator delete (free) and then flags the pair as mismatched; they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace keel::http2 {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// One write in flight, of at most this much: frames wait in nghttp2 (which
// only produces DATA as fast as the writer asks) rather than in a buffer.
constexpr std::size_t kMaxWrite = 64 * 1024;
// Stream tasks kept for reuse beyond the open ones.
constexpr std::size_t kMaxFreeTasks = 32;
// After its last frame (a GOAWAY) the connection reads and drops what the
// client still sends for this long, then closes: closing with unread bytes
// would reset the connection and could destroy the GOAWAY in flight
// (nginx's lingering close).
constexpr auto kLinger = std::chrono::seconds(1);

SessionSettings settings_from(const control::RoutingSnapshot& snapshot) {
  SessionSettings settings;
  settings.max_concurrent_streams = snapshot.limits.http2_max_concurrent_streams;
  settings.max_header_bytes = snapshot.limits.max_header_bytes;
  return settings;
}

}  // namespace

void StreamTask::reset() {
  connection = nullptr;
  stream = nullptr;
  request_body.clear();
  request_body_bytes = 0;
  unconsumed = 0;
  request_body_done = chunked_upload = cancelled = body_cancelled = body_too_large = false;
  reset_sent = false;
}

Connection::Connection(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket, std::string client_ip,
                       worker::Worker::TlsContext tls)
    : Expirable(worker.deadlines()),
      worker_(worker),
      shared_(shared),
      stream_(std::move(socket)),
      tls_(std::move(tls)),
      client_ip_(std::move(client_ip)),
      session_(*this, settings_from(worker.snapshot())),
      write_wake_(stream_.get_executor()) {
  if (tls_) stream_.use_tls(tls_->initial());
  worker_.register_client(*this);
  metrics::bump(worker_.counters().http2_connections);
}

Connection::~Connection() {
  metrics::bump(worker_.counters().http2_connections_closed);
  shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
  worker_.client_closed();
}

void Connection::start(std::unique_ptr<Connection> self, std::string_view read) {
  self->first_read_.assign(read);
  Connection* connection = self.release();  // owned by its tasks from here (task_ended)
  connection->running_ = 1;  // the reader; it starts the writer once the connection is up
  // Frames go out as soon as they are ready: HTTP/2 does its own batching.
  boost::system::error_code ignored;
  connection->stream_.socket().set_option(tcp::no_delay(true), ignored);
  connection->expires_after(connection->worker_.snapshot().timeouts.client_header);
  asio::co_spawn(connection->stream_.get_executor(), connection->read_loop(), asio::detached);
}

asio::awaitable<bool> Connection::handshake() {
  auto* layer = stream_.tls();
  auto [ec] = co_await layer->async_handshake(asio::ssl::stream_base::server, nothrow);
  if (ec) co_return false;
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(layer->native_handle(), &protocol, &length);
  co_return std::string_view(reinterpret_cast<const char*>(protocol), length) == "h2";
}

void Connection::task_ended() {
  if (--running_ == 0) delete this;
}

void Connection::close_socket() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  write_wake_.cancel();
}

// Between streams the connection may idle for timeouts.idle; with streams
// open, each stream's own waits are bounded (stream_client.cpp) and a write
// the client does not take within timeouts.idle ends the connection.
void Connection::refresh_deadline() {
  if (draining_) return;  // the linger deadline stands
  if (session_.open_streams() == 0)
    expires_after(worker_.snapshot().timeouts.idle);
  else
    expires_never();
}

void Connection::on_expired() {
  close_socket();
}

void Connection::close_when_idle() {
  session_.shutdown();  // GOAWAY; open streams finish, then the session wants nothing more
  wake_writer();
}

asio::awaitable<void> Connection::read_loop() {
  if (stream_.is_tls() && !co_await handshake()) {
    close_socket();
    task_ended();
    co_return;
  }
  ++running_;
  asio::co_spawn(stream_.get_executor(), write_loop(), asio::detached);
  if (!first_read_.empty()) {
    take({reinterpret_cast<const std::uint8_t*>(first_read_.data()), first_read_.size()});
    std::string().swap(first_read_);
  }
  for (;;) {
    auto [ec, read] = co_await stream_.async_read_some(asio::buffer(read_buffer_), nothrow);
    if (ec || closed_) break;  // the client left, or the connection was closed
    if (draining_) continue;   // lingering: bytes after our last frame are dropped
    take({read_buffer_.data(), read});
  }
  close_socket();
  task_ended();
}

bool Connection::take(std::span<const std::uint8_t> bytes) {
  const bool ok = session_.receive(bytes);
  wake_writer();
  if (!ok) {
    // A protocol error or a flood: nothing more is read into the session;
    // the writer flushes the GOAWAY and lingers.
    draining_ = true;
    expires_after(kLinger);
    return false;
  }
  refresh_deadline();
  return true;
}

asio::awaitable<void> Connection::write_loop() {
  while (!closed_) {
    write_buffer_.clear();
    if (!session_.send(write_buffer_, kMaxWrite)) break;
    if (write_buffer_.empty()) {
      // Done when the session is over: a protocol error (draining), or GOAWAY
      // with no stream left (nghttp2 then wants nothing more).
      if (draining_ || (!session_.wants_read() && !session_.wants_write())) break;
      write_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await write_wake_.async_wait(nothrow);
      continue;
    }
    expires_after(worker_.snapshot().timeouts.idle);  // a client that stops reading
    auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(write_buffer_), nothrow);
    if (ec) {
      close_socket();  // the client is gone or stopped reading: nothing to linger for
      break;
    }
    refresh_deadline();
  }
  if (!closed_) {
    // Our side is done: FIN after the last frame; the reader drops what
    // still comes until the client closes or kLinger passes.
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    draining_ = true;
    expires_after(kLinger);
  }
  // The streams still running learn that nobody reads them any more.
  for (StreamTask* task : active_) cancel(*task);
  task_ended();
}

void Connection::on_request(Stream& stream) {
  std::unique_ptr<StreamTask> task;
  if (free_tasks_.empty()) {
    task = std::make_unique<StreamTask>(stream_.get_executor());
  } else {
    task = std::move(free_tasks_.back());
    free_tasks_.pop_back();
  }
  task->connection = this;
  task->stream = &stream;
  task->request_body_done = stream.request_complete;
  task->slot = active_.size();
  active_.push_back(task.get());
  stream.user = task.get();
  stream.held = true;
  ++running_;
  asio::co_spawn(stream_.get_executor(), run_stream(task.release()), asio::detached);
}

asio::awaitable<void> Connection::run_stream(StreamTask* task) {
  co_await run_exchange(*this, *task);
  active_.back()->slot = task->slot;
  active_[task->slot] = active_.back();
  active_.pop_back();
  Stream* stream = task->stream;
  if (stream) {
    // Body bytes nobody will forward: the client's window reopens.
    session_.consume(*stream, task->request_body.size() + task->unconsumed);
    stream->user = nullptr;
    session_.release(*stream);
  }
  task->reset();
  if (free_tasks_.size() < kMaxFreeTasks)
    free_tasks_.emplace_back(task);
  else
    delete task;
  wake_writer();
  task_ended();
}

void Connection::on_request_body(Stream& stream, std::string_view bytes) {
  auto* task = static_cast<StreamTask*>(stream.user);
  if (task->cancelled || task->body_too_large || task->body_cancelled) {
    session_.consume(stream, bytes.size());  // nobody forwards them: the window reopens now
    return;
  }
  task->request_body_bytes += bytes.size();
  const std::uint64_t limit = worker_.snapshot().limits.max_body_bytes;
  if (limit != 0 && task->request_body_bytes > limit) {
    // The upload stops with too_large: 413 if the backend has not answered
    // yet, else the response is cut (as for HTTP/1.1).
    task->body_too_large = true;
    session_.consume(stream, bytes.size() + task->request_body.size());
    task->request_body.clear();
    task->body_ready.cancel();
    return;
  }
  task->request_body.append(bytes);
  task->body_ready.cancel();
}

void Connection::on_request_end(Stream& stream) {
  auto* task = static_cast<StreamTask*>(stream.user);
  task->request_body_done = true;
  task->body_ready.cancel();
}

void Connection::on_response_room(Stream& stream) {
  static_cast<StreamTask*>(stream.user)->room.cancel();
}

// A stream reset by the client (or closed by the session) while its exchange
// runs: the backend request is cancelled by closing its connection.
void Connection::on_stream_closed(Stream& stream) {
  auto* task = static_cast<StreamTask*>(stream.user);
  if (stream.reset_by_client) metrics::bump(worker_.counters().http2_client_resets);
  if (!stream.response_body_done || stream.response_buffered() > 0 || !task->request_body_done) {
    cancel(*task);
  } else {
    task->body_ready.cancel();
    task->room.cancel();
  }
}

void Connection::cancel(StreamTask& task) {
  task.cancelled = true;
  // Closes the backend connection in use: the backend sees its request cancelled.
  if (task.buffers) worker::Exchange(worker_, *task.buffers, task).cancel();
  task.body_ready.cancel();
  task.room.cancel();
}

void start_http2_connection(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket,
                            const tcp::endpoint& peer, worker::Worker::TlsContext tls) {
  Connection::start(std::make_unique<Connection>(worker, shared, std::move(socket),
                                                 http::address_text(peer.address()), std::move(tls)));
}

void start_h2c_connection(worker::Worker& worker, worker::SharedState& shared, tcp::socket socket,
                          std::string client_ip, std::string_view read) {
  Connection::start(std::make_unique<Connection>(worker, shared, std::move(socket), std::move(client_ip), nullptr),
                    read);
}

}  // namespace keel::http2
