#include "proxy/worker/client_connection.hpp"

#include "proxy/http/address_text.hpp"
#include "proxy/http/error_response.hpp"
#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/head_parser.hpp"
#include "proxy/http/request_guard.hpp"
#include "proxy/log/access_log.hpp"
#include "proxy/log/log.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/stream.hpp"
#include "proxy/tls/upstream_context.hpp"
#include "proxy/worker/exchange_buffers.hpp"
#include "proxy/worker/request_record.hpp"
#include "proxy/worker/tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include <array>
#include <optional>

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into its
// operator delete (free) and then flags the pair as mismatched; they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace keel::worker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using tcp = asio::ip::tcp;
using beast_http::status;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// Request heads are read in small steps (an idle burst of connections costs
// little); request bodies in bigger ones.
constexpr std::size_t kHeadReadChunk = 4 * 1024;
// Between requests a read stays pending with a buffer this small: most request
// heads fit, and a burst of briefly idle connections costs little memory.
constexpr std::size_t kIdleReadChunk = 1024;
constexpr std::size_t kReadChunk = 16 * 1024;
// An input buffer grown past this by a large request is not kept for the next.
constexpr std::size_t kMaxKeptInput = 64 * 1024;
// Responses are read in bigger steps: a 16 KiB body and its head in one read.
constexpr std::size_t kUpstreamReadChunk = 32 * 1024;
constexpr std::uint32_t kMaxResponseHeadBytes = 64 * 1024;
// How long a closing TLS connection waits for the client's close_notify.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(1);

// As the config file writes durations: "2s", "1500ms".
std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  return ms != 0 && ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

// Tells the operator a backend refuses connections, without a line per request:
// at most one per backend and worker every ConnectFailureLog::kInterval. A plain
// function taking plain values: its strings stay out of the calling coroutine's frame.
void log_connect_failure(BackendState& backend, const PoolView& pool, const boost::system::error_code& ec,
                         bool timed_out, std::chrono::milliseconds timeout) {
  std::uint64_t unlogged = 0;
  if (!backend.connect_failures_logged.should_log(Clock::now(), unlogged)) return;
  const std::string cause = timed_out                               ? "timeout after " + duration_text(timeout)
                            : ec == asio::error::connection_refused ? std::string("connection refused")
                                                                    : ec.message();
  std::string line = "pool " + pool.name() + ": cannot connect to backend " + backend.address + ": " + cause;
  if (unlogged > 0) line += " (and " + std::to_string(unlogged) + " more failed connects since the last report)";
  log::warn(line);
}

// Why the request body stopped flowing before it was complete. client_timeout:
// the client sent nothing for timeouts.idle while its body was incomplete (408).
enum class UploadError { none, client_gone, client_timeout, too_large, bad_body, upstream_failed };

class ClientConnection final : public Expirable, public ClientHandle {
 public:
  ClientConnection(Worker& worker, SharedState& shared, tcp::socket socket, const tcp::endpoint& peer,
                   Worker::TlsContext tls)
      : Expirable(worker.deadlines()),
        worker_(worker),
        shared_(shared),
        stream_(std::move(socket)),
        tls_(std::move(tls)),
        client_ip_(http::address_text(peer.address())) {
    if (tls_) stream_.use_tls(tls_->initial());
    worker_.register_client(*this);
  }

  ~ClientConnection() override {
    unpark();  // a parked connection's handler destroyed by a stopped loop
    if (buffers_) worker_.buffers().release(std::move(buffers_));
    shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
    worker_.client_closed();
  }

  // Serves the connection until it closes; the coroutine owns it.
  static asio::awaitable<void> serve(std::unique_ptr<ClientConnection> self);
  static asio::awaitable<void> serve_tls(std::unique_ptr<ClientConnection> self);
  bool is_tls() const { return stream_.is_tls(); }
  // A parked connection: the handler owns it (destroying the handler, as a
  // stopped loop does, closes it) and starts serve() again when bytes arrive.
  static void wait_parked(std::unique_ptr<ClientConnection> self) {
    self->parking_ = false;
    self->parked_ = true;
    self->shared_.parked_clients.fetch_add(1, std::memory_order_relaxed);
    tcp::socket& socket = self->stream_.socket();
    socket.async_wait(tcp::socket::wait_read, [self = std::move(self)](boost::system::error_code ec) mutable {
      self->unpark();
      // Cancelled: idle timeout (on_expired) or shutdown (close_when_idle).
      if (ec || self->closing_ || self->worker_.is_shutting_down()) return;
      auto executor = self->stream_.get_executor();
      asio::co_spawn(executor, serve(std::move(self)), asio::detached);
    });
  }

  void unpark() {
    if (!parked_) return;
    parked_ = false;
    shared_.parked_clients.fetch_sub(1, std::memory_order_relaxed);
  }

  void park_idle() override {
    parking_ = true;
    boost::system::error_code ignored;
    stream_.socket().cancel(ignored);  // serve() sees parking_ and hands over to wait_parked()
  }

  void close_when_idle() override {
    if (!busy_) {
      boost::system::error_code ignored;
      stream_.socket().cancel(ignored);
      closing_ = true;
    }
  }

 private:
  enum class HeadOutcome { ready, closed, timeout, too_large, bad, body_too_large };

  // How relaying a response body ended.
  struct RelayResult {
    bool upstream_intact = true;  // the backend sent a well-formed body and did not fail
    bool client_intact = true;    // every write to the client succeeded
    bool complete = false;        // the whole body went through
  };

  // How forwarding one request to one upstream connection ended.
  enum class Attempt { done, retry_fresh, failed };

  // Nagle holds a write back only while an earlier one is unacknowledged, so a
  // connection's first write goes out at once without TCP_NODELAY: one-request
  // connections skip the syscall (nginx also sets it on the keep-alive
  // transition). Called before every write to the client.
  void before_client_write() {
    if (nodelay_) return;
    if (client_writes_++ == 0) return;
    boost::system::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    nodelay_ = true;
  }

  void on_expired() override {
    boost::system::error_code ignored;
    stream_.socket().cancel(ignored);
  }

  const config::Timeouts& timeouts() const { return worker_.snapshot().timeouts; }

  asio::awaitable<bool> serve_request();
  asio::awaitable<HeadOutcome> read_head(http::RequestParser& parser, std::size_t& head_bytes);
  asio::awaitable<bool> exchange(http::RequestParser& parser, std::size_t head_bytes);
  asio::awaitable<Attempt> forward(http::RequestParser& parser, UpstreamConnection& upstream,
                                   bool& keep_client, bool& keep_upstream);
  asio::awaitable<RelayResult> relay_length_body(UpstreamConnection& upstream, std::uint64_t remaining,
                                                Clock::duration idle);
  asio::awaitable<RelayResult> relay_parsed_body(UpstreamConnection& upstream, http::Framing from_backend,
                                                 http::Framing to_client, Clock::duration idle);
  asio::awaitable<void> pump_request_body(http::RequestParser& parser, UpstreamConnection& upstream);
  asio::awaitable<bool> reply_error(status code, bool keep_alive, std::string_view detail = {});
  // 503 naming why `pool` has no usable backend. Its own coroutine, so the reason's
  // string lives in a frame made only on this path, not in the request loop's (whose
  // frame must stay small enough for Asio's recycling allocator).
  asio::awaitable<bool> reply_unavailable(const PoolView& pool, bool keep_alive);
  // forward() records the error answer a failed attempt owes the client and
  // exchange() sends it: one co_await instead of one per failure keeps forward's
  // coroutine frame small enough for Asio to recycle it.
  Attempt fail(status code, std::string_view detail = {}) {
    failure_status_ = code;
    failure_detail_ = detail;
    return Attempt::failed;
  }
  // The upload pump stopped on the client's side: the exchange ends with what
  // that owes the client (nothing if it left).
  bool upload_failed_on_client_side() const {
    return !upload_running_ && upload_error_ != UploadError::none && upload_error_ != UploadError::upstream_failed;
  }
  Attempt fail_upload() {
    switch (upload_error_) {
      case UploadError::client_timeout:
        return fail(status::request_timeout, "request body timed out");
      case UploadError::too_large:
        return fail(status::payload_too_large);
      case UploadError::bad_body:
        return fail(status::bad_request, "invalid chunked body");
      default:
        return Attempt::failed;  // client_gone: nobody to answer
    }
  }
  asio::awaitable<bool> write_client(std::string_view data);
  asio::awaitable<std::unique_ptr<UpstreamConnection>> connect(BackendState& backend,
                                                               const PoolView& pool);
  asio::awaitable<void> wait_upload();
  asio::awaitable<void> abort_upload(UpstreamConnection& upstream);

  Worker& worker_;
  SharedState& shared_;
  tls::Stream stream_;
  Worker::TlsContext tls_;  // keeps the certificates this connection started with
  std::string client_ip_;
  beast::flat_buffer input_;                  // client bytes not yet consumed (pipelined ones too)
  std::unique_ptr<ExchangeBuffers> buffers_;  // held only while a request is in progress
  bool busy_ = false;       // inside an exchange
  bool websocket_ = false;  // the current request asks for a WebSocket upgrade
  bool upstream_timed_out_ = false;  // the last forward() ended in 504: a passive-check failure
  bool closing_ = false;
  bool parking_ = false;  // the worker asked an idle connection to park
  bool parked_ = false;   // waiting in wait_parked()'s handler
  bool nodelay_ = false;  // TCP_NODELAY set (from the second write on)
  std::uint8_t client_writes_ = 0;
  std::optional<status> failure_status_;
  std::string_view failure_detail_;  // always a string literal

  // Request-body upload running beside the response relay.
  bool upload_running_ = false;
  bool response_started_ = false;
  UploadError upload_error_ = UploadError::none;

  // Logs and counts the request that just ended (if one began).
  void end_request();
};

void ClientConnection::end_request() {
  if (log::AccessLogWriter* access_log = worker_.access_log(); access_log && buffers_ &&
                                                              (buffers_->access.captured || buffers_->record.status)) {
    AccessCapture& access = buffers_->access;
    const auto duration = access.captured ? Clock::now() - buffers_->record.start : Clock::duration(0);
    access_log->write({.time = access.captured ? access.time : std::chrono::system_clock::now(),
                       .client_ip = client_ip_,
                       .method = access.method,
                       .target = access.target,
                       .version = access.version,
                       .status = buffers_->record.status,
                       .response_bytes = buffers_->record.response_bytes,
                       .referer = access.referer,
                       .user_agent = access.user_agent,
                       .host = access.host,
                       .pool = buffers_->record.pool ? std::string_view(buffers_->record.pool->name()) : std::string_view(),
                       .backend = buffers_->record.backend ? std::string_view(buffers_->record.backend->address) : std::string_view(),
                       .duration = std::chrono::duration_cast<std::chrono::nanoseconds>(duration)});
    access.clear();
  }
  buffers_->record.finish(worker_.counters());
}

// Kept small on purpose: this frame is what an idle keep-alive connection costs
// besides the connection itself, so each request runs in serve_request()'s frame,
// which Asio recycles between requests.
asio::awaitable<void> ClientConnection::serve(std::unique_ptr<ClientConnection> self) {
  self->expires_after(self->timeouts().client_header);  // nginx-style: the first head is timed from accept
  for (;;) {
    if (self->closing_ || self->worker_.is_shutting_down()) co_return;
    if (self->input_.size() == 0) {
      // Between requests. A pending read (tried at once by Asio, then left to
      // the reactor without a syscall) keeps the input buffer while the client
      // is briefly quiet; a client quiet for longer is parked by the worker,
      // which cancels this read: the buffer's memory goes too.
      self->worker_.client_idle(*self);
      auto [ec, read] = co_await self->stream_.socket().async_read_some(self->input_.prepare(kIdleReadChunk), nothrow);
      Worker::client_busy(*self);
      if (ec) {
        if (ec == asio::error::operation_aborted && self->parking_ && !self->timed_out() && !self->closing_) {
          self->input_ = beast::flat_buffer();
          wait_parked(std::move(self));  // the coroutine ends; a callback waits instead
        }
        co_return;  // idle timeout, shutdown, closed, or parked
      }
      self->parking_ = false;  // the request won the race with the worker's park
      self->input_.commit(read);
    }
    if (!self->buffers_) self->buffers_ = self->worker_.buffers().acquire();
    if (!co_await self->serve_request()) co_return;
    self->worker_.buffers().release(std::move(self->buffers_));
    if (self->input_.size() == 0 && self->input_.capacity() > kMaxKeptInput) self->input_ = beast::flat_buffer();
    self->expires_after(self->timeouts().idle);
  }
}

// serve() for a TLS connection, separate so that the plain one stays as lean:
// the handshake first (under the client_header deadline; a failed one gets no
// answer), reads through the TLS layer, never parked (the TLS layer may hold
// bytes the socket no longer shows, and its own state dwarfs the coroutine),
// and close_notify at the end, so that a client reading until close can tell a
// whole response from a cut one.
asio::awaitable<void> ClientConnection::serve_tls(std::unique_ptr<ClientConnection> self) {
  self->expires_after(self->timeouts().client_header);
  // A handshake writes several flights (and tickets after it): Nagle would hold
  // each for the client's delayed ACK. nginx sets TCP_NODELAY on TLS too.
  boost::system::error_code ignored;
  self->stream_.socket().set_option(tcp::no_delay(true), ignored);
  self->nodelay_ = true;
  auto [handshake_ec] = co_await self->stream_.tls()->async_handshake(asio::ssl::stream_base::server, nothrow);
  if (handshake_ec) co_return;
  for (;;) {
    if (self->closing_ || self->worker_.is_shutting_down()) break;
    if (self->input_.size() == 0) {
      auto [ec, read] = co_await self->stream_.async_read_some(self->input_.prepare(kHeadReadChunk), nothrow);
      if (ec) break;  // idle timeout, shutdown, close_notify or reset: no answer owed
      self->input_.commit(read);
    }
    if (!self->buffers_) self->buffers_ = self->worker_.buffers().acquire();
    if (!co_await self->serve_request()) break;
    self->worker_.buffers().release(std::move(self->buffers_));
    if (self->input_.size() == 0 && self->input_.capacity() > kMaxKeptInput) self->input_ = beast::flat_buffer();
    self->expires_after(self->timeouts().idle);
  }
  if (!self->stream_.socket().is_open()) co_return;  // after a WebSocket tunnel
  self->expires_after(kTlsShutdownTimeout);
  co_await self->stream_.tls()->async_shutdown(nothrow);  // failure or not, the connection closes next
}

// One request whose first bytes are in the input buffer; false when the
// connection is done.
asio::awaitable<bool> ClientConnection::serve_request() {
  http::RequestParser& parser = buffers_->request.emplace(buffers_->request_fields);
  const auto& limits = worker_.snapshot().limits;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes == 0 ? boost::optional<std::uint64_t>()
                                               : boost::optional<std::uint64_t>(limits.max_body_bytes));
  std::size_t head_bytes = 0;
  status refusal = status::ok;
  switch (co_await read_head(parser, head_bytes)) {
    case HeadOutcome::ready:
      break;
    case HeadOutcome::closed:
      co_return false;
    case HeadOutcome::timeout:
      refusal = status::request_timeout;
      break;
    case HeadOutcome::too_large:
      refusal = status::request_header_fields_too_large;
      break;
    case HeadOutcome::body_too_large:
      refusal = status::payload_too_large;
      break;
    case HeadOutcome::bad:
      refusal = status::bad_request;
      break;
  }
  if (refusal != status::ok) {
    co_await reply_error(refusal, false, refusal == status::bad_request ? "malformed request" : "");
    end_request();
    co_return false;
  }
  busy_ = true;
  buffers_->record.begin();
  const bool keep = co_await exchange(parser, head_bytes);
  end_request();
  busy_ = false;
  co_return keep;
}

asio::awaitable<ClientConnection::HeadOutcome> ClientConnection::read_head(
    http::RequestParser& parser, std::size_t& head_bytes) {
  bool started = input_.size() > 0;
  if (started) expires_after(timeouts().client_header);
  for (;;) {
    if (input_.size() > 0) {
      beast::error_code ec;
      const std::size_t used = parser.put(input_.data(), ec);
      if (parser.is_header_done()) {
        if (ec == beast_http::error::body_limit) co_return HeadOutcome::body_too_large;
        if (ec && ec != beast_http::error::need_more) co_return HeadOutcome::bad;
        head_bytes = used;
        co_return HeadOutcome::ready;
      }
      if (ec == beast_http::error::header_limit) co_return HeadOutcome::too_large;
      if (ec == beast_http::error::body_limit) co_return HeadOutcome::body_too_large;
      if (ec && ec != beast_http::error::need_more) co_return HeadOutcome::bad;
    }
    auto [ec, read] = co_await stream_.async_read_some(input_.prepare(kHeadReadChunk), nothrow);
    if (ec) {
      if (timed_out() && started) co_return HeadOutcome::timeout;
      co_return HeadOutcome::closed;  // closed, reset, or idle between requests: no answer owed
    }
    input_.commit(read);
    if (!started) {
      started = true;
      expires_after(timeouts().client_header);
    }
  }
}

asio::awaitable<bool> ClientConnection::exchange(http::RequestParser& parser, std::size_t head_bytes) {
  const auto head = std::string_view(static_cast<const char*>(input_.data().data()), head_bytes);
  if (const auto raw = http::scan_raw_head(head); raw != http::GuardResult::ok)
    co_return co_await reply_error(status::bad_request, false, http::describe(raw));
  std::string_view host;
  if (const auto checked = http::check_request_head(parser, host); checked != http::GuardResult::ok) {
    const auto code = checked == http::GuardResult::unsupported_method ? status::method_not_allowed
                                                                       : status::bad_request;
    co_return co_await reply_error(code, false, http::describe(checked));
  }

  const control::RoutingSnapshot& snapshot = worker_.snapshot();
  const bool websocket = http::is_websocket_upgrade(parser);
  websocket_ = websocket;
  const auto framing = parser.chunked()                  ? http::Framing::chunked
                       : parser.content_length()         ? http::Framing::length
                                                         : http::Framing::none;
  buffers_->head_out.clear();
  std::string& local_address = buffers_->local_address;
  local_address.clear();
  if (host.empty()) {
    boost::system::error_code ec;
    const auto local = stream_.socket().local_endpoint(ec);
    if (!ec) {
      const bool v6 = local.address().is_v6();
      local_address.append(v6 ? "[" : "").append(local.address().to_string()).append(v6 ? "]" : "");
      local_address.append(":").append(std::to_string(local.port()));
    }
  }
  const http::ForwardContext context{.client_ip = client_ip_, .proto = stream_.is_tls() ? "https" : "http",
                                     .mode = snapshot.forwarded_mode, .default_host = local_address};
  http::write_upstream_request_head(buffers_->head_out, parser, host, framing,
                                    parser.content_length().value_or(0), websocket, context);
  const auto pool = worker_.pool(snapshot.router.route(host, parser.target()));
  buffers_->record.route(pool);
  if (worker_.access_log()) buffers_->access.capture(parser, host);
  const bool keep_alive_requested = parser.keep_alive();
  input_.consume(head_bytes);  // the head's views are dead from here on

  // Body bytes that came with the head go out in the same write; a small body
  // never needs the upload pump at all. A chunked body is checked up to its first
  // chunk size before a backend is chosen, so a malformed one reaches nobody.
  parser.set_body_output(&buffers_->head_out, framing);
  parser.eager(true);  // from here one put() takes all the body bytes it is given
  for (;;) {
    if (input_.size() > 0 && !parser.is_done()) {
      beast::error_code ec;
      const auto used = parser.put(input_.data(), ec);
      input_.consume(used);
      if (ec == beast_http::error::body_limit)
        co_return co_await reply_error(status::payload_too_large, false);
      if (ec && ec != beast_http::error::need_more)
        co_return co_await reply_error(status::bad_request, false, "invalid chunked body");
    }
    if (parser.is_done() || !parser.chunked() || parser.chunk_headers_seen() > 0) break;
    expires_after(timeouts().client_header);
    auto [ec, read] = co_await stream_.async_read_some(input_.prepare(kReadChunk), nothrow);
    if (ec) {
      if (timed_out()) co_await reply_error(status::request_timeout, false);
      co_return false;
    }
    input_.commit(read);
  }
  parser.set_body_output(&buffers_->upload_out, framing);

  std::array<std::uint64_t, 16> tried{};
  std::size_t tried_count = 0;
  std::uint32_t connect_failures = 0;
  bool retried_stale = false;
  for (;;) {
    BackendLease lease = pool->pick(std::span(tried.data(), tried_count));
    if (!lease && connect_failures == 0 && pool->holds_requests())  // scale from zero
      lease = co_await wait_for_backend(worker_, *pool, timeouts().upstream_header);
    if (!lease) {
      if (connect_failures == 0)
        co_return co_await reply_unavailable(*pool, keep_alive_requested && parser.is_done());
      co_return co_await reply_error(status::bad_gateway, keep_alive_requested && parser.is_done(),
                                     "backend unreachable");
    }
    BackendState& backend = lease.backend();
    std::unique_ptr<UpstreamConnection> upstream = retried_stale ? nullptr : take_idle(backend, parser.is_done());
    if (!upstream) upstream = co_await connect(backend, *pool);
    if (!upstream) {
      pool->report_failure(backend);
      RequestRecord::connect_failed(backend);
      ++connect_failures;
      if (tried_count < tried.size()) tried[tried_count++] = backend.id;
      if (connect_failures > pool->retries())
        co_return co_await reply_error(status::bad_gateway, keep_alive_requested && parser.is_done(),
                                       "backend unreachable");
      buffers_->record.retried();
      continue;
    }

    bool keep_client = keep_alive_requested && !worker_.is_shutting_down();
    bool keep_upstream = false;
    upstream_timed_out_ = false;
    buffers_->record.served_by(backend);
    const Attempt attempt = co_await forward(parser, *upstream, keep_client, keep_upstream);
    if (failure_status_) {
      const status code = *failure_status_;
      failure_status_.reset();
      co_await reply_error(code, false, failure_detail_);
    }
    if (upstream_timed_out_)
      pool->report_failure(backend, health::LiveFailure::timeout);
    else if (attempt == Attempt::done)
      pool->report_success(backend);
    if (attempt == Attempt::retry_fresh && !retried_stale) {
      retried_stale = true;  // a reused connection the backend had closed: once more, fresh
      buffers_->record.retried();
      continue;
    }
    if (attempt == Attempt::done && keep_upstream && backend.eligible)
      park(backend, std::move(upstream), timeouts().idle);
    co_return attempt == Attempt::done && keep_client;
  }
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> ClientConnection::connect(BackendState& backend,
                                                                               const PoolView& pool) {
  auto upstream = std::make_unique<UpstreamConnection>(worker_.deadlines(),
                                                       tcp::socket(stream_.get_executor()));
  upstream->expires_after(timeouts().connect);
  auto [ec] = co_await upstream->socket().async_connect(backend.endpoint, nothrow);
  upstream->expires_never();
  if (ec) {
    log_connect_failure(backend, pool, ec, upstream->timed_out(), timeouts().connect);
    co_return nullptr;
  }
  upstream->socket().set_option(tcp::no_delay(true), ec);
  if (const auto& tls = pool.tls()) {
    // The handshake gets the connect timeout too ("upstream TCP/TLS connect").
    upstream->use_tls(tls);
    auto* layer = upstream->stream().tls();
    if (!tls->prepare(layer->native_handle(), backend.address)) co_return nullptr;
    upstream->expires_after(timeouts().connect);
    auto [handshake] = co_await layer->async_handshake(asio::ssl::stream_base::client, nothrow);
    upstream->expires_never();
    if (handshake) {
      log::warn("pool " + pool.name() + ": TLS handshake with backend " + backend.address +
                " failed: " + handshake.message());
      co_return nullptr;
    }
  }
  co_return upstream;
}

asio::awaitable<ClientConnection::Attempt> ClientConnection::forward(
    http::RequestParser& parser, UpstreamConnection& upstream, bool& keep_client, bool& keep_upstream) {
  const config::Timeouts limits = timeouts();  // a copy: a new snapshot may land mid-exchange
  const bool reused = upstream.is_reused();
  const bool whole_request_buffered = parser.is_done();  // buffers_->head_out can be replayed
  buffers_->upstream_input.clear();  // nothing of an earlier attempt's backend

  upstream.expires_after(limits.idle);
  {
    auto [ec, written] = co_await asio::async_write(upstream.stream(), asio::buffer(buffers_->head_out), nothrow);
    if (ec) {
      if (reused && whole_request_buffered) co_return Attempt::retry_fresh;
      co_return fail(upstream.timed_out() ? status::gateway_timeout : status::bad_gateway);
    }
    buffers_->record.sent_upstream(written);
  }

  upload_error_ = UploadError::none;
  response_started_ = false;
  if (!whole_request_buffered) {
    upload_running_ = true;
    asio::co_spawn(stream_.get_executor(), pump_request_body(parser, upstream), asio::detached);
  } else {
    upstream.expires_after(limits.upstream_header);
  }

  const bool head_request = parser.method() == beast_http::verb::head;
  const bool websocket = websocket_;
  const int client_version = parser.version();
  std::optional<http::ResponseParser>& response = buffers_->response;  // kept out of this frame
  std::size_t head_bytes = 0;
  bool received_any = false;

  // The response head; interim 1xx responses are relayed and the next read.
  for (;;) {
    response.emplace(buffers_->response_fields);
    response->header_limit(kMaxResponseHeadBytes);
    response->body_limit(boost::none);
    if (head_request) response->skip(true);
    for (;;) {
      auto& in = buffers_->upstream_input;
      if (in.size() > 0) {
        beast::error_code ec;
        const std::size_t used = response->put(in.data(), ec);
        if (response->is_header_done() && (!ec || ec == beast_http::error::need_more)) {
          head_bytes = used;
          break;
        }
        if (ec && ec != beast_http::error::need_more) {
          co_await abort_upload(upstream);
          co_return fail(status::bad_gateway, "invalid response from backend");
        }
      }
      // The pump's cancel finds no read pending while a 1xx is being relayed.
      if (upload_failed_on_client_side()) co_return fail_upload();
      auto [ec, read] = co_await upstream.stream().async_read_some(in.prepare(kUpstreamReadChunk), nothrow);
      if (ec) {
        const bool timed_out = upstream.timed_out();
        // If the upload was still running it did not cause this: stop it, the
        // backend failed. If it had stopped on a client-side error, that is why
        // the read was cancelled.
        const bool upload_was_running = upload_running_;
        co_await abort_upload(upstream);
        if (!upload_was_running && upload_failed_on_client_side()) co_return fail_upload();
        if (timed_out) {
          upstream_timed_out_ = true;
          co_return fail(status::gateway_timeout, "backend timed out");
        }
        if (reused && !received_any && whole_request_buffered) co_return Attempt::retry_fresh;
        co_return fail(status::bad_gateway, "backend closed the connection");
      }
      in.commit(read);
      received_any = true;
    }

    const int code = response->status();
    if (code >= 100 && code < 200 && code != 101) {
      // 100 Continue and friends: HTTP/1.0 clients don't know them.
      if (client_version >= 11) {
        buffers_->out.clear();
        http::write_client_response_head(buffers_->out, *response, {.interim = true}, client_version);
        buffers_->upstream_input.consume(head_bytes);
        if (!co_await write_client(buffers_->out)) {
          co_await abort_upload(upstream);
          co_return Attempt::failed;
        }
      } else {
        buffers_->upstream_input.consume(head_bytes);
      }
      continue;
    }
    break;
  }
  response_started_ = true;

  const int code = response->status();
  buffers_->record.answered(code);
  if (code == 101) {
    co_await abort_upload(upstream);  // a tunnel owns both sockets from here
    if (!websocket || upload_error_ != UploadError::none) {
      co_return fail(status::bad_gateway, "unexpected upgrade from backend");
    }
    buffers_->out.clear();
    http::write_client_response_head(buffers_->out, *response, {.websocket = true}, client_version);
    buffers_->upstream_input.consume(head_bytes);
    if (!co_await write_client(buffers_->out)) co_return Attempt::failed;
    expires_never();
    client_writes_ = 1;
    before_client_write();  // a tunnel's small frames must not wait for ACKs
    co_await run_tunnel({stream_, input_, *this}, {upstream.stream(), buffers_->upstream_input, upstream},
                        limits.idle);
    keep_client = false;
    co_return Attempt::done;
  }

  // Framing towards the client.
  http::ResponseFraming framing;
  http::Framing from_backend;
  if (response->is_done()) {
    from_backend = http::Framing::none;
    if (head_request || code == 304) {
      framing.pass_content_length = true;
    } else if (code != 204) {
      framing.framing = http::Framing::length;  // e.g. "Content-Length: 0"
    }
  } else if (response->chunked()) {
    from_backend = http::Framing::chunked;
  } else if (response->content_length()) {
    from_backend = http::Framing::length;
    framing.framing = http::Framing::length;
    framing.content_length = *response->content_length();
  } else {
    from_backend = http::Framing::until_close;
  }
  if (from_backend == http::Framing::chunked || from_backend == http::Framing::until_close)
    framing.framing = client_version >= 11 ? http::Framing::chunked : http::Framing::until_close;
  // A client still uploading when the answer starts (an early 413, say) loses the
  // connection afterwards: the rest of its body cannot be told from a new request.
  keep_client = keep_client && framing.framing != http::Framing::until_close &&
                !(upload_running_ || upload_error_ != UploadError::none);
  framing.keep_alive = keep_client;

  buffers_->out.clear();
  http::write_client_response_head(buffers_->out, *response, framing, client_version);
  buffers_->upstream_input.consume(head_bytes);
  RelayResult relayed;
  if (from_backend == http::Framing::length) {
    relayed = co_await relay_length_body(upstream, framing.content_length, limits.idle);
  } else {
    relayed = co_await relay_parsed_body(upstream, from_backend, framing.framing, limits.idle);
  }
  const bool upstream_intact = relayed.upstream_intact;
  const bool client_intact = relayed.client_intact;

  if (upload_running_) {
    // The backend answered before the client finished sending: stop reading it.
    co_await abort_upload(upstream);
    keep_client = false;
  }
  if (!upstream_intact || !client_intact) keep_client = false;
  keep_upstream = upstream_intact && relayed.complete && response->keep_alive() &&
                  from_backend != http::Framing::until_close && upload_error_ == UploadError::none &&
                  buffers_->upstream_input.size() == 0 && upstream.socket().is_open();
  co_return Attempt::done;
}

// A Content-Length body passes through untouched: written to the client straight
// from the upstream buffer (no copy), the response head with its first bytes in
// one write.
asio::awaitable<ClientConnection::RelayResult> ClientConnection::relay_length_body(
    UpstreamConnection& upstream, std::uint64_t remaining, Clock::duration idle) {
  RelayResult result;
  auto& in = buffers_->upstream_input;
  for (;;) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), remaining));
    if (take > 0 || !buffers_->out.empty()) {
      const std::array<asio::const_buffer, 2> pieces{asio::buffer(buffers_->out),
                                                     asio::const_buffer(in.data().data(), take)};
      expires_after(idle);
      before_client_write();
      auto [ec, written] = co_await asio::async_write(stream_, pieces, nothrow);
      buffers_->record.sent_client(written);
      if (ec) {
        result.client_intact = false;
        co_return result;
      }
      buffers_->out.clear();
      in.consume(take);
      remaining -= take;
    }
    if (remaining == 0) {
      result.complete = true;
      co_return result;
    }
    if (!upload_running_) upstream.expires_after(idle);  // else the upload pump keeps the deadline
    auto [ec, read] = co_await upstream.stream().async_read_some(in.prepare(kUpstreamReadChunk), nothrow);
    if (ec) {
      result.upstream_intact = false;  // the backend died mid-body
      co_return result;
    }
    in.commit(read);
  }
}

// Chunked or close-delimited bodies: the response parser re-frames them into
// the output buffer (fresh chunks, or plain bytes for an HTTP/1.0 client).
asio::awaitable<ClientConnection::RelayResult> ClientConnection::relay_parsed_body(
    UpstreamConnection& upstream, http::Framing from_backend, http::Framing to_client, Clock::duration idle) {
  RelayResult result;
  http::ResponseParser& response = *buffers_->response;
  response.set_body_output(&buffers_->out, to_client);
  response.eager(true);
  auto& in = buffers_->upstream_input;
  while (!response.is_done()) {
    if (in.size() > 0) {
      beast::error_code ec;
      const std::size_t used = response.put(in.data(), ec);
      in.consume(used);
      if (ec && ec != beast_http::error::need_more) {
        result.upstream_intact = false;  // bad chunk from the backend: what was sent stays sent
        break;
      }
      if (response.is_done()) break;
    }
    if (!buffers_->out.empty()) {
      if (!co_await write_client(buffers_->out)) {
        result.client_intact = false;
        co_return result;
      }
      buffers_->out.clear();
    }
    if (!upload_running_) upstream.expires_after(idle);  // else the upload pump keeps the deadline
    auto [ec, read] = co_await upstream.stream().async_read_some(in.prepare(kUpstreamReadChunk), nothrow);
    if (ec == asio::error::eof && from_backend == http::Framing::until_close) {
      beast::error_code eof_ec;
      response.put_eof(eof_ec);
      break;
    }
    if (ec) {
      result.upstream_intact = false;  // the backend died mid-body
      break;
    }
    in.commit(read);
  }
  if (!buffers_->out.empty()) result.client_intact = co_await write_client(buffers_->out);
  result.complete = result.upstream_intact && response.is_done();
  co_return result;
}

asio::awaitable<void> ClientConnection::pump_request_body(http::RequestParser& parser,
                                                          UpstreamConnection& upstream) {
  const config::Timeouts limits = timeouts();
  UploadError error = UploadError::none;
  for (;;) {
    if (input_.size() > 0) {
      beast::error_code ec;
      const std::size_t used = parser.put(input_.data(), ec);
      input_.consume(used);
      if (ec == beast_http::error::body_limit) {
        error = UploadError::too_large;
        break;
      }
      if (ec && ec != beast_http::error::need_more) {
        error = UploadError::bad_body;
        break;
      }
    }
    if (!buffers_->upload_out.empty()) {
      upstream.expires_after(limits.idle);
      auto [ec, written] = co_await asio::async_write(upstream.stream(), asio::buffer(buffers_->upload_out), nothrow);
      buffers_->record.sent_upstream(written);
      buffers_->upload_out.clear();
      if (ec) {
        error = UploadError::upstream_failed;
        break;
      }
    }
    if (parser.is_done()) break;
    // Waiting for the client, the backend may be waiting for us (for the rest
    // of the body, even if it has started answering): its side has no deadline
    // meanwhile, so a stalled upload times out here, on the client's side
    // (nginx's client_body_timeout), and is the client's fault: 408, not 504.
    upstream.expires_never();
    expires_after(limits.idle);
    auto [ec, read] = co_await stream_.async_read_some(input_.prepare(kReadChunk), nothrow);
    if (ec) {
      error = timed_out() ? UploadError::client_timeout : UploadError::client_gone;
      break;
    }
    input_.commit(read);
  }
  buffers_->upload_out.clear();
  upload_error_ = error;
  upload_running_ = false;
  // The response reader sets no deadline while the pump runs: arm it here.
  boost::system::error_code ignored;
  if (error == UploadError::none) {
    upstream.expires_after(response_started_ ? limits.idle : limits.upstream_header);
  } else if (error == UploadError::client_timeout && response_started_) {
    // The backend is answering: the client still gets what it sends (then the
    // connection closes). The rest of the body will not come; a half-close
    // tells the backend so rather than leave it waiting for it.
    upstream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    upstream.expires_after(limits.idle);
  } else if (error != UploadError::upstream_failed) {
    // The client side failed: wake the response reader. After an upstream write
    // error the backend may still have answered (an early 413), so let it read
    // (under the deadline that write had).
    upstream.socket().cancel(ignored);
  }
  buffers_->upload_done.cancel();
}

// Stops a running upload (the exchange is over without it) and waits for the
// pump to let go of both sockets. The client connection cannot be reused after.
asio::awaitable<void> ClientConnection::abort_upload(UpstreamConnection& upstream) {
  if (!upload_running_) co_return;
  boost::system::error_code ignored;
  upstream.socket().close(ignored);
  stream_.socket().cancel(ignored);
  co_await wait_upload();
}

asio::awaitable<void> ClientConnection::wait_upload() {
  while (upload_running_) {
    buffers_->upload_done.expires_at(asio::steady_timer::time_point::max());
    co_await buffers_->upload_done.async_wait(nothrow);
  }
}

asio::awaitable<bool> ClientConnection::write_client(std::string_view data) {
  expires_after(timeouts().idle);
  before_client_write();
  auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(data), nothrow);
  buffers_->record.sent_client(written);
  co_return !ec;
}

asio::awaitable<bool> ClientConnection::reply_unavailable(const PoolView& pool, bool keep_alive) {
  const std::string reason = pool.unavailable_reason();
  co_return co_await reply_error(status::service_unavailable, keep_alive, reason);
}

asio::awaitable<bool> ClientConnection::reply_error(status code, bool keep_alive, std::string_view detail) {
  if (!buffers_) buffers_ = worker_.buffers().acquire();
  buffers_->out.clear();
  buffers_->record.answered(static_cast<int>(code));
  http::write_error_response(buffers_->out, code, keep_alive, detail);
  const bool written = co_await write_client(buffers_->out);
  co_return written && keep_alive;
}

}  // namespace

void start_client_connection(Worker& worker, SharedState& shared, tcp::socket socket, const tcp::endpoint& peer,
                             Worker::TlsContext tls) {
  auto executor = socket.get_executor();
  auto connection = std::make_unique<ClientConnection>(worker, shared, std::move(socket), peer, std::move(tls));
  if (connection->is_tls())
    asio::co_spawn(executor, ClientConnection::serve_tls(std::move(connection)), asio::detached);
  else
    asio::co_spawn(executor, ClientConnection::serve(std::move(connection)), asio::detached);
}

}  // namespace keel::worker
