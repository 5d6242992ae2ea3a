#include "proxy/worker/client_connection.hpp"

#include "proxy/http/address_text.hpp"
#include "proxy/http/error_response.hpp"
#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/head_parser.hpp"
#include "proxy/http/message_framing.hpp"
#include "proxy/http/proxy_error.hpp"
#include "proxy/http/request_guard.hpp"
#include "proxy/http2/first_bytes.hpp"
#include "proxy/log/access_log.hpp"
#include "proxy/log/log.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/stream.hpp"
#include "proxy/worker/exchange.hpp"
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
#include <tuple>

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
using http::ProxyError;

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
// How long a closing TLS connection waits for the client's close_notify.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(1);

// An HTTP/1.1 connection from accept to close: reads each request head,
// checks it, writes the head for the backend, and hands the request to an
// Exchange; serves the next one if the exchange leaves the connection usable.
// It is the Exchange's client: the response is written to its stream.
class ClientConnection final : public Expirable, public ClientHandle, public ExchangeClient {
 public:
  ClientConnection(Worker& worker, SharedState& shared, tcp::socket socket, const tcp::endpoint& peer,
                   Worker::TlsContext tls, H2cHandOff h2c)
      : Expirable(worker.deadlines()),
        worker_(worker),
        shared_(shared),
        stream_(std::move(socket)),
        tls_(std::move(tls)),
        client_ip_(http::address_text(peer.address())),
        h2c_(h2c) {
    if (tls_) stream_.use_tls(tls_->initial());
    worker_.register_client(*this);
  }

  ~ClientConnection() override {
    unpark();  // a parked connection's handler destroyed by a stopped loop
    if (buffers_) worker_.buffers().release(std::move(buffers_));
    if (handed_off_) return;  // the HTTP/2 connection counts it now
    shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
    worker_.client_closed();
  }

  // Serves the connection until it closes; the coroutine owns it. Plain and
  // TLS alike; a TLS connection starts with its handshake, is never parked and
  // ends with close_notify.
  static asio::awaitable<void> serve(std::unique_ptr<ClientConnection> self);
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

  // ExchangeClient: the response goes to this connection's stream.
  tls::Stream* byte_stream() override { return &stream_; }
  void before_write(Clock::duration idle) override {
    expires_after(idle);
    before_client_write();
  }
  void encode_head(const http::ResponseParser& response, const http::ResponseFraming& framing,
                   std::string& out) override {
    http::write_client_response_head(out, response, framing, buffers_->request->version());
  }
  void encode_trailers(const std::vector<http::Field>&, std::string&) override {}  // chunked: in the body bytes
  asio::awaitable<bool> write(std::string_view framed, std::string_view tail) override;
  asio::awaitable<bool> send_error(status code, std::string_view detail, bool keep_alive) override {
    co_return co_await reply_error(code, keep_alive, detail);
  }
  asio::awaitable<BodyRead> read_body(std::string& out) override;
  void cancel_body() override {
    boost::system::error_code ignored;
    stream_.socket().cancel(ignored);
  }
  asio::awaitable<void> tunnel(UpstreamConnection& upstream, beast::flat_buffer& pending,
                               Clock::duration idle) override {
    expires_never();
    client_writes_ = 1;
    before_client_write();  // a tunnel's small frames must not wait for ACKs
    co_await run_tunnel({stream_, input_, *this}, {upstream.stream(), pending, upstream}, idle);
  }

 private:
  enum class HeadOutcome { ready, closed, timeout, too_large, bad, body_too_large };

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

  asio::awaitable<bool> handshake();
  // The first bytes of a plain connection with h2c_: the whole HTTP/2 preface
  // (true), or anything else (h2c_ cleared); reads on while they are a strict
  // prefix of it. `gone`: the client left first.
  asio::awaitable<bool> read_preface(bool& gone);
  // The common case without a coroutine frame: the first bytes are already
  // not the preface (h2c_ cleared).
  bool starts_http1() {
    const auto first = std::string_view(static_cast<const char*>(input_.data().data()), input_.size());
    // Most requests are told by their first byte (the preface starts "PRI").
    if (first.empty() || (first.front() == 'P' && http2::classify_plain(first) != http2::FirstBytes::http1))
      return false;
    h2c_ = nullptr;
    return true;
  }
  static void hand_off(std::unique_ptr<ClientConnection> self);
  asio::awaitable<bool> serve_request();
  asio::awaitable<HeadOutcome> read_head(http::RequestParser& parser, std::size_t& head_bytes);
  // An answer keel owes instead of an exchange.
  struct Refusal {
    status code;
    std::string_view detail;  // a string literal
  };
  static Refusal refusal_for(ProxyError error) { return {http::status_for(error), http::describe(error)}; }
  std::optional<Refusal> begin_exchange(http::RequestParser& parser, std::size_t head_bytes, Exchange& exchange,
                                        ExchangeRequest& request);
  std::optional<Refusal> put_body_start(http::RequestParser& parser);
  asio::awaitable<bool> read_first_chunk_size(http::RequestParser& parser);
  asio::awaitable<bool> reply_error(status code, bool keep_alive, std::string_view detail = {});
  asio::awaitable<bool> refuse(ProxyError error) {
    co_return co_await reply_error(http::status_for(error), false, http::describe(error));
  }
  // Logs and counts the request that just ended (if one began).
  void end_request();

  Worker& worker_;
  SharedState& shared_;
  tls::Stream stream_;
  Worker::TlsContext tls_;  // keeps the certificates this connection started with
  std::string client_ip_;
  beast::flat_buffer input_;                  // client bytes not yet consumed (pipelined ones too)
  std::unique_ptr<ExchangeBuffers> buffers_;  // held only while a request is in progress
  bool busy_ = false;  // inside an exchange
  bool closing_ = false;
  bool parking_ = false;  // the worker asked an idle connection to park
  bool parked_ = false;   // waiting in wait_parked()'s handler
  bool nodelay_ = false;  // TCP_NODELAY set (from the second write on)
  bool handed_off_ = false;  // became an HTTP/2 connection (h2c_)
  std::uint8_t client_writes_ = 0;
  H2cHandOff h2c_ = nullptr;  // until the first bytes showed HTTP/1.x
};

void ClientConnection::end_request() {
  if (buffers_) finish_request(worker_, *buffers_, client_ip_);
}

// Kept small on purpose: this frame is what an idle keep-alive connection costs
// besides the connection itself, so each request runs in serve_request()'s frame,
// which Asio recycles between requests.
asio::awaitable<void> ClientConnection::serve(std::unique_ptr<ClientConnection> self) {
  self->expires_after(self->timeouts().client_header);  // nginx-style: the first head is timed from accept
  // TLS: a failed handshake gets no answer. Never parked: the TLS layer may
  // hold bytes the socket no longer shows, and its own state dwarfs the coroutine.
  const bool tls = self->stream_.is_tls();
  if (tls && !co_await self->handshake()) co_return;
  for (;;) {
    if (self->closing_ || self->worker_.is_shutting_down()) break;
    if (self->input_.size() == 0) {
      // Between requests. A pending read (tried at once by Asio, then left to
      // the reactor without a syscall) keeps the input buffer while the client
      // is briefly quiet; a plain client quiet for longer is parked by the
      // worker, which cancels this read: the buffer's memory goes too.
      boost::system::error_code ec;
      std::size_t read = 0;
      if (!tls) {
        self->worker_.client_idle(*self);
        std::tie(ec, read) = co_await self->stream_.socket().async_read_some(self->input_.prepare(kIdleReadChunk), nothrow);
        Worker::client_busy(*self);
      } else {
        std::tie(ec, read) = co_await self->stream_.async_read_some(self->input_.prepare(kHeadReadChunk), nothrow);
      }
      if (ec) {
        if (!tls && ec == asio::error::operation_aborted && self->parking_ && !self->timed_out() &&
            !self->closing_) {
          self->input_ = beast::flat_buffer();
          wait_parked(std::move(self));  // the coroutine ends; a callback waits instead
          co_return;
        }
        break;  // idle timeout, shutdown, closed, close_notify or reset: no answer owed
      }
      self->parking_ = false;  // the request won the race with the worker's park
      self->input_.commit(read);
      if (self->h2c_ && !self->starts_http1()) {
        bool gone = false;
        const bool preface = co_await self->read_preface(gone);
        if (gone) break;
        if (preface) {
          hand_off(std::move(self));
          co_return;
        }
      }
    }
    if (!self->buffers_) self->buffers_ = self->worker_.buffers().acquire();
    if (!co_await self->serve_request()) break;
    self->worker_.buffers().release(std::move(self->buffers_));
    if (self->input_.size() == 0 && self->input_.capacity() > kMaxKeptInput) self->input_ = beast::flat_buffer();
    self->expires_after(self->timeouts().idle);
  }
  // close_notify, so that a client reading until close can tell a whole
  // response from a cut one (not after a WebSocket tunnel closed the socket).
  if (!tls || !self->stream_.socket().is_open()) co_return;
  self->expires_after(kTlsShutdownTimeout);
  co_await self->stream_.tls()->async_shutdown(nothrow);  // failure or not, the connection closes next
}

// Under the client_header deadline.
asio::awaitable<bool> ClientConnection::handshake() {
  // A handshake writes several flights (and tickets after it): Nagle would hold
  // each for the client's delayed ACK. nginx sets TCP_NODELAY on TLS too.
  boost::system::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  nodelay_ = true;
  auto [ec] = co_await stream_.tls()->async_handshake(asio::ssl::stream_base::server, nothrow);
  co_return !ec;
}

asio::awaitable<bool> ClientConnection::read_preface(bool& gone) {
  for (;;) {
    const auto first = std::string_view(static_cast<const char*>(input_.data().data()), input_.size());
    const auto kind = http2::classify_plain(first);
    if (kind == http2::FirstBytes::http2) co_return true;
    if (kind != http2::FirstBytes::need_more) break;
    auto [ec, read] = co_await stream_.socket().async_read_some(input_.prepare(kHeadReadChunk), nothrow);
    if (ec) {
      gone = true;  // closed, or client_header passed: no answer owed
      co_return false;
    }
    input_.commit(read);
  }
  h2c_ = nullptr;  // HTTP/1.x from here on
  co_return false;
}

void ClientConnection::hand_off(std::unique_ptr<ClientConnection> self) {
  self->handed_off_ = true;
  self->expires_never();
  const auto read = std::string_view(static_cast<const char*>(self->input_.data().data()), self->input_.size());
  self->h2c_(self->worker_, self->shared_, std::move(self->stream_.socket()), std::move(self->client_ip_), read);
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
  ProxyError refusal = ProxyError::none;
  switch (co_await read_head(parser, head_bytes)) {
    case HeadOutcome::ready:
      break;
    case HeadOutcome::closed:
      co_return false;
    case HeadOutcome::timeout:
      refusal = ProxyError::head_timeout;
      break;
    case HeadOutcome::too_large:
      refusal = ProxyError::head_too_large;
      break;
    case HeadOutcome::body_too_large:
      refusal = ProxyError::body_too_large;
      break;
    case HeadOutcome::bad:
      refusal = ProxyError::malformed_request;
      break;
  }
  if (refusal != ProxyError::none) {
    co_await refuse(refusal);
    end_request();
    co_return false;
  }
  busy_ = true;
  buffers_->record.begin();
  bool keep = false;
  Exchange exchange(worker_, *buffers_, *this);
  ExchangeRequest request;
  if (const auto refused = begin_exchange(parser, head_bytes, exchange, request)) {
    keep = co_await reply_error(refused->code, false, refused->detail);
  } else if (parser.is_done() || !parser.chunked() || parser.chunk_headers_seen() > 0 ||
             co_await read_first_chunk_size(parser)) {
    request.body_complete = parser.is_done();
    keep = (co_await exchange.run(request)).keep_client;
  }
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

// Checks the head, writes the backend's head with the body bytes in hand and
// routes; not a coroutine, so a request costs no frame of its own here. An
// answer owed instead comes back (the head's views are dead either way).
std::optional<ClientConnection::Refusal> ClientConnection::begin_exchange(http::RequestParser& parser,
                                                                         std::size_t head_bytes, Exchange& exchange,
                                                                         ExchangeRequest& request) {
  const auto head = std::string_view(static_cast<const char*>(input_.data().data()), head_bytes);
  if (const auto raw = http::scan_raw_head(head); raw != http::GuardResult::ok)
    return Refusal{http::status_for(raw), http::describe(raw)};
  std::string_view host;
  if (const auto checked = http::check_request_head(parser, host); checked != http::GuardResult::ok)
    return Refusal{http::status_for(checked), http::describe(checked)};

  const control::RoutingSnapshot& snapshot = worker_.snapshot();
  const bool websocket = http::is_websocket_upgrade(parser);
  const auto framing = http::request_framing(parser.chunked(), parser.content_length());
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
  exchange.route(host, parser.target());
  if (worker_.access_log()) buffers_->access.capture(parser, host);
  request = {.client_version = parser.version(),
             .head_request = parser.method() == beast_http::verb::head,
             .websocket = websocket,
             .keep_alive = parser.keep_alive()};
  input_.consume(head_bytes);  // the head's views are dead from here on

  // Body bytes that came with the head go out in the same write; a small body
  // never needs the upload pump at all.
  parser.set_body_output(&buffers_->head_out, framing);
  parser.eager(true);  // from here one put() takes all the body bytes it is given
  return put_body_start(parser);
}

// Puts the body bytes buffered so far into head_out.
std::optional<ClientConnection::Refusal> ClientConnection::put_body_start(http::RequestParser& parser) {
  if (input_.size() == 0 || parser.is_done()) return std::nullopt;
  beast::error_code ec;
  const auto used = parser.put(input_.data(), ec);
  input_.consume(used);
  if (ec == beast_http::error::body_limit) return refusal_for(ProxyError::body_too_large);
  if (ec && ec != beast_http::error::need_more) return refusal_for(ProxyError::bad_body);
  return std::nullopt;
}

// A chunked body is checked up to its first chunk size before a backend is
// chosen, so a malformed one reaches nobody. The rare case of a head that came
// without it: read on (client_header). False: the client left or was answered.
asio::awaitable<bool> ClientConnection::read_first_chunk_size(http::RequestParser& parser) {
  for (;;) {
    expires_after(timeouts().client_header);
    auto [ec, read] = co_await stream_.async_read_some(input_.prepare(kReadChunk), nothrow);
    if (ec) {
      if (timed_out()) co_await refuse(ProxyError::head_timeout);
      co_return false;
    }
    input_.commit(read);
    if (const auto refusal = put_body_start(parser)) {
      co_await reply_error(refusal->code, false, refusal->detail);
      co_return false;
    }
    if (parser.is_done() || parser.chunk_headers_seen() > 0) co_return true;
  }
}

// The rest of the request body for the upload pump: parse what is buffered,
// else wait for the client (timeouts.idle, nginx's client_body_timeout).
asio::awaitable<BodyRead> ClientConnection::read_body(std::string& out) {
  http::RequestParser& parser = *buffers_->request;
  parser.set_body_output(&out, parser.chunked() ? http::Framing::chunked : http::Framing::length);
  for (;;) {
    if (input_.size() > 0) {
      beast::error_code ec;
      const std::size_t used = parser.put(input_.data(), ec);
      input_.consume(used);
      if (ec == beast_http::error::body_limit) co_return BodyRead::too_large;
      if (ec && ec != beast_http::error::need_more) co_return BodyRead::bad_body;
    }
    if (parser.is_done()) co_return BodyRead::done;
    if (!out.empty()) co_return BodyRead::more;
    expires_after(timeouts().idle);
    auto [ec, read] = co_await stream_.async_read_some(input_.prepare(kReadChunk), nothrow);
    if (ec) co_return timed_out() ? BodyRead::client_timeout : BodyRead::client_gone;
    input_.commit(read);
  }
}

asio::awaitable<bool> ClientConnection::write(std::string_view framed, std::string_view tail) {
  const std::array<asio::const_buffer, 2> pieces{asio::buffer(framed), asio::buffer(tail)};
  before_write(timeouts().idle);
  auto [ec, written] = co_await asio::async_write(stream_, pieces, nothrow);
  co_return !ec;
}

asio::awaitable<bool> ClientConnection::reply_error(status code, bool keep_alive, std::string_view detail) {
  if (!buffers_) buffers_ = worker_.buffers().acquire();
  buffers_->out.clear();
  buffers_->record.answered(static_cast<int>(code));
  http::write_error_response(buffers_->out, code, keep_alive, detail);
  before_write(timeouts().idle);
  auto [ec, written] = co_await asio::async_write(stream_, asio::buffer(buffers_->out), nothrow);
  buffers_->record.sent_client(written);
  co_return !ec && keep_alive;
}

}  // namespace

void start_client_connection(Worker& worker, SharedState& shared, tcp::socket socket, const tcp::endpoint& peer,
                             Worker::TlsContext tls, H2cHandOff h2c) {
  auto executor = socket.get_executor();
  auto connection =
      std::make_unique<ClientConnection>(worker, shared, std::move(socket), peer, std::move(tls), h2c);
  asio::co_spawn(executor, ClientConnection::serve(std::move(connection)), asio::detached);
}

}  // namespace keel::worker
