// One request's life once its head is read: route, pick a backend and retry,
// forward, relay the response (and the request body beside it), report to
// passive checks, park the backend connection. Shared by the protocol front
// ends: the HTTP/1.1 connection (client_connection.cpp) and HTTP/2 streams.
//
// How a front end drives it (worker thread; everything on one executor):
//  1. Take an ExchangeBuffers set (worker.buffers().acquire()) and call
//     buffers.record.begin().
//  2. Write into buffers.head_out the HTTP/1.1 request head for the backend
//     (http::write_upstream_request_head: forwarded headers, framing from
//     http::request_framing, chunked when the length is unknown) and any body
//     bytes already in hand, framed the same way.
//  3. Exchange exchange(worker, buffers, client);
//     exchange.route(host, target)   -- while those views are valid.
//  4. ExchangeResult result = co_await exchange.run(request);
//     run() returns when the client has had a whole response, a cut one, an
//     error response (result.status) or nothing (it went away). The request
//     body, if not all in head_out, is pulled with client.read_body() while
//     the response is relayed. The backend connection is parked or closed.
//     For HTTP/2: outcome complete ends the stream (END_STREAM), cut resets
//     it, refused means send_error() was called, client_gone sends nothing.
//     A stream reset by the client calls exchange.cancel().
//  5. Log and count (buffers.record), release the buffers; an HTTP/1.1
//     connection serves its next request only if result.keep_client.
// Each exchange has its own buffers and no shared state: one connection may
// run many at once (HTTP/2 streams), all on the worker's thread.
// The response goes to the ExchangeClient: HTTP/1.x hands out its byte stream
// (the exchange writes framed bytes to it without a call per write); a front
// end without one (HTTP/2) says client_version = http::kHttp2Version, so bodies
// come unframed, and gets encode_head(), write(), encode_trailers() instead.
#pragma once

#include "proxy/http/message_framing.hpp"
#include "proxy/http/proxy_error.hpp"
#include "proxy/worker/exchange_buffers.hpp"
#include "proxy/worker/pool_view.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/status.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace keel::worker {

class Worker;

// What the request body's next read brought (ExchangeClient::read_body).
enum class BodyRead : std::uint8_t { more, done, client_gone, client_timeout, too_large, bad_body };

// The client side of one exchange, implemented by each protocol front end.
// Worker thread; the exchange calls these only between its own co_awaits.
class ExchangeClient {
 public:
  // Response. An HTTP/1.x front end returns its connection's stream: the
  // exchange writes head and framed body bytes straight to it, after
  // before_write(). Null for a front end that frames on its own.
  virtual tls::Stream* byte_stream() = 0;
  // Before each write to byte_stream(): arm the client's deadline (`idle`).
  virtual void before_write(Clock::duration idle) = 0;
  // Appends the response head for this client to `out` (HTTP/1.1 text), or
  // keeps what it needs of it (the views live until the exchange next reads
  // from the backend) and appends nothing.
  virtual void encode_head(const http::ResponseParser& response, const http::ResponseFraming& framing,
                           std::string& out) = 0;
  // Only without byte_stream(): the response's trailer fields, once its body
  // is complete and before the last write() (chunked HTTP/1.1 carries them in
  // the body bytes instead).
  virtual void encode_trailers(const std::vector<http::Field>& trailers, std::string& out) = 0;
  // Only without byte_stream(): sends `framed` (what encode_head/encode_trailers
  // and the body relay appended) then `tail` (body bytes passed through as they
  // came). False: the client is gone; the exchange stops.
  virtual boost::asio::awaitable<bool> write(std::string_view framed, std::string_view tail) = 0;
  // An error response keel makes itself: `status`, the one-line `detail`
  // (may be empty). `keep_alive`: the request was read whole, the connection
  // may carry another. True if written and kept alive.
  virtual boost::asio::awaitable<bool> send_error(boost::beast::http::status status, std::string_view detail,
                                                  bool keep_alive) = 0;

  // Request body, while ExchangeState::body_complete is false: appends the
  // next body bytes, framed for the backend (as head_out declared: chunked, see
  // http::append_chunk, or a length), to `out`, waiting for the client if none
  // are buffered, and says whether more will follow. The upload pump calls it
  // again only once the bytes of the previous call were written to the
  // backend: a front end with flow control (HTTP/2) opens its window there,
  // so a slow backend slows the client instead of filling memory.
  virtual boost::asio::awaitable<BodyRead> read_body(std::string& out) = 0;
  // Makes a read_body() in progress return soon (client_gone): the exchange
  // is over without the rest of the body.
  virtual void cancel_body() = 0;

  // After a 101 answering a WebSocket upgrade (ExchangeRequest::websocket):
  // relays both ways until either side closes. `pending`: backend bytes
  // already read. The client connection is not reused after.
  virtual boost::asio::awaitable<void> tunnel(UpstreamConnection& upstream, boost::beast::flat_buffer& pending,
                                              Clock::duration idle) = 0;

 protected:
  ~ExchangeClient() = default;
};

// What the front end tells the exchange about the request besides head_out.
struct ExchangeRequest {
  // 10 or 11 (HTTP/1.x), or http::kHttp2Version: picks the response body's
  // framing (http::plan_response) and whether 1xx responses are relayed.
  int client_version = 11;
  bool head_request = false;  // HEAD: the response has no body whatever it says
  bool websocket = false;     // a WebSocket upgrade: a 101 is tunnelled
  bool keep_alive = true;     // the client wants to send another request after this one
  bool body_complete = true;  // head_out holds the whole request (no read_body() needed)
};

// How an exchange (or one attempt of it) ended.
enum class Outcome : std::uint8_t {
  complete,     // a backend's response reached the client whole
  cut,          // a backend's response started but did not finish (either side failed)
  refused,      // keel answered with an error of its own (status, error)
  client_gone,  // the client left before any answer; nothing was sent
  retry_fresh,  // (attempts only) a reused backend connection was closed under us
};

struct ExchangeResult {
  Outcome outcome = Outcome::client_gone;
  int status = 0;                 // sent to the client; 0: none
  http::ProxyError error = http::ProxyError::none;  // why keel answered itself
  bool keep_client = false;       // the client connection may carry another request
  bool keep_upstream = false;     // the backend connection may be parked for reuse
  bool passive_failure = false;   // counts against the backend in passive checks
};

class Exchange {
 public:
  Exchange(Worker& worker, ExchangeBuffers& buffers, ExchangeClient& client)
      : worker_(worker), b_(buffers), client_(client) {}

  // Picks the pool for `host` and `target` (views into the request head).
  void route(std::string_view host, std::string_view target);
  boost::asio::awaitable<ExchangeResult> run(const ExchangeRequest& request);
  // Worker thread, while run() is suspended: the client is gone (an HTTP/2
  // stream reset). The backend connection in use closes, so run() ends soon
  // (client_gone) and the backend sees its request cancelled; nothing more is
  // sent to the client. A request waiting for scale from zero waits out
  // upstream_header first. Any Exchange over the same buffers may call it.
  void cancel();

 private:
  boost::asio::awaitable<ExchangeResult> forward(const ExchangeRequest& request, UpstreamConnection& upstream,
                                                 bool keep_client);
  boost::asio::awaitable<http::RelayFacts> relay_body(UpstreamConnection& upstream, http::Framing from_backend,
                                                      http::Framing to_client, std::uint64_t length,
                                                      Clock::duration idle);
  boost::asio::awaitable<void> pump_request_body(UpstreamConnection& upstream);
  boost::asio::awaitable<void> abort_upload(UpstreamConnection& upstream);
  boost::asio::awaitable<void> wait_upload();
  boost::asio::awaitable<bool> write_client(std::string_view data);
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> connect(BackendState& backend, PoolView& pool);
  // Sends the error answer `result` carries; returns it with status and keep_client set.
  boost::asio::awaitable<ExchangeResult> answer(ExchangeResult result, bool keep_alive);
  std::string_view no_backend_detail(const PoolView& pool);
  // The upload pump stopped on the client's side: what that owes the client.
  bool upload_failed_on_client_side() const;
  ExchangeResult fail_upload() const;

  Worker& worker_;
  ExchangeBuffers& b_;  // the per-request state is b_.state
  ExchangeClient& client_;
};

// Step 5 for every front end: writes the access log line (if the log is on and
// a request began or was answered) and counts the request for /metrics.
void finish_request(Worker& worker, ExchangeBuffers& buffers, std::string_view client_ip);

// A failed attempt that owes the client `error` (sent by Exchange::run).
inline ExchangeResult refused(http::ProxyError error, bool passive_failure = false) {
  return {.outcome = Outcome::refused, .error = error, .passive_failure = passive_failure};
}

}  // namespace keel::worker
