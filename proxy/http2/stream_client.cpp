// One HTTP/2 stream's exchange. Its request head (already HTTP/1.1 text, see
// request_head.cpp) goes through the same guard and forwarded headers as an
// HTTP/1.1 request, then the shared worker::Exchange routes, picks, forwards
// and relays, with this stream as its client: the response becomes HEADERS,
// DATA and trailing HEADERS; request DATA is given back to the client's
// window only once the upload wrote it to the backend, and no more than
// kMaxBufferedResponse bytes of response wait for a slow client.
#include "proxy/http/error_response.hpp"
#include "proxy/http/request_guard.hpp"
#include "proxy/http2/connection_state.hpp"
#include "proxy/http2/response_head.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/status.hpp>

#include <optional>

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into its
// operator delete (free) and then flags the pair as mismatched; they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace keel::http2 {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using worker::BodyRead;
using worker::Clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Response bytes one stream may hold for a client that reads slowly (or keeps
// its window shut): past it the backend is not read until the client catches up.
constexpr std::size_t kMaxBufferedResponse = 64 * 1024;

// Waits for a cancel() of `timer` (an event) or `timeout`; false on timeout.
asio::awaitable<bool> wait_event(asio::steady_timer& timer, Clock::duration timeout) {
  timer.expires_after(timeout);
  auto [ec] = co_await timer.async_wait(nothrow);
  co_return ec == asio::error::operation_aborted;
}

// Submits keel's own answer; the caller counts it (record.answered).
void submit_answer(Connection& connection, StreamTask& task, beast_http::status code, std::string_view detail) {
  if (task.cancelled || task.stream->response_submitted) return;
  std::string& body = task.buffers->out;
  body.clear();
  http::append_error_body(body, code, detail);
  connection.session().submit_error(*task.stream, static_cast<int>(code), body);
  connection.wake_writer();
}

// Frames request body bytes for the backend as the head announced them.
void append_body(StreamTask& task, std::string& out, std::string_view bytes) {
  if (task.chunked_upload)
    http::append_chunk(out, bytes);
  else
    out.append(bytes);
}

// An answer keel owes instead of an exchange.
struct Refusal {
  beast_http::status code;
  std::string_view detail;  // a string literal
};
Refusal refusal_for(http::ProxyError error) { return {http::status_for(error), http::describe(error)}; }
Refusal refusal_for(http::GuardResult refusal) { return {http::status_for(refusal), http::describe(refusal)}; }

// The guard, the backend's request head (with the whole body when it is
// already here) and the route. Not a coroutine: a request costs no frame here.
// Returns the answer owed instead, if any.
std::optional<Refusal> begin_exchange(Connection& connection, StreamTask& task,
                                               worker::Exchange& exchange, worker::ExchangeRequest& request) {
  worker::Worker& worker = connection.worker();
  worker::ExchangeBuffers& buffers = *task.buffers;
  const control::RoutingSnapshot& snapshot = worker.snapshot();
  task.idle = snapshot.timeouts.idle;

  http::RequestParser& parser = buffers.request.emplace(buffers.request_fields);
  parser.header_limit(static_cast<std::uint32_t>(snapshot.limits.max_header_bytes + 64));
  parser.body_limit(boost::none);
  beast::error_code ec;
  const std::string& head = task.stream->head;
  parser.put(asio::buffer(head), ec);
  if (!parser.is_header_done() || (ec && ec != beast_http::error::need_more))
    return refusal_for(http::ProxyError::malformed_request);  // cannot happen: write_request_head checked it
  if (const auto raw = http::scan_raw_head(head); raw != http::GuardResult::ok) return refusal_for(raw);
  std::string_view host;
  if (const auto checked = http::check_request_head(parser, host); checked != http::GuardResult::ok)
    return refusal_for(checked);
  // Announced too large, or already past the limit in the DATA that came with the head.
  const std::uint64_t max_body = snapshot.limits.max_body_bytes;
  if (task.body_too_large ||
      (max_body != 0 && parser.content_length() && *parser.content_length() > max_body)) {
    task.body_too_large = true;  // what DATA still comes is dropped
    return refusal_for(http::ProxyError::body_too_large);
  }

  task.chunked_upload = parser.chunked();
  const auto framing = http::request_framing(parser.chunked(), parser.content_length());
  const http::ForwardContext context{.client_ip = connection.client_ip(),
                                     .proto = connection.client().is_tls() ? "https" : "http",
                                     .mode = snapshot.forwarded_mode,
                                     .default_host = {}};
  buffers.head_out.clear();
  http::write_upstream_request_head(buffers.head_out, parser, host, framing, parser.content_length().value_or(0),
                                    false, context);
  exchange.route(host, parser.target());
  if (worker.access_log()) {
    buffers.access.capture(parser, host);
    buffers.access.version = http::kHttp2Version;
  }
  request = {.client_version = http::kHttp2Version,
             .head_request = parser.method() == beast_http::verb::head,
             .websocket = false,
             .keep_alive = true,
             .body_complete = task.request_body_done};
  if (task.request_body_done) {
    // A request without a body (END_STREAM on HEADERS), or one whose DATA was
    // all read before this exchange began (co_spawn dispatches, so it begins
    // inside on_request() and normally sees none): one write, no upload, and
    // the request can be sent again on a fresh connection. The body is ours
    // now: the client's window reopens.
    if (!task.request_body.empty()) append_body(task, buffers.head_out, task.request_body);
    if (task.chunked_upload) http::append_last_chunk(buffers.head_out);
    connection.session().consume(*task.stream, task.request_body.size());
    task.request_body.clear();
  }
  return std::nullopt;
}

// What the exchange's end owes the stream.
void end_stream(Connection& connection, StreamTask& task, const worker::ExchangeResult& result) {
  switch (result.outcome) {
    case worker::Outcome::complete:
      if (!task.stream->response_body_done) {  // the HEADERS did not end the stream
        connection.session().finish_response_body(*task.stream);
        connection.wake_writer();
      }
      return;
    case worker::Outcome::refused:  // send_error() submitted the answer
      return;
    default:  // cut, or nothing sent: the client must not wait for more
      reset_stream(connection, task, NGHTTP2_INTERNAL_ERROR);
      return;
  }
}

}  // namespace

void reset_stream(Connection& connection, StreamTask& task, std::uint32_t error_code) {
  if (task.reset_sent || task.stream->closed) return;
  task.reset_sent = true;
  connection.session().reset(*task.stream, error_code);
  connection.wake_writer();
}

asio::awaitable<void> run_exchange(Connection& connection, StreamTask& task) {
  worker::Worker& worker = connection.worker();
  task.buffers = worker.buffers().acquire();
  worker::ExchangeBuffers& buffers = *task.buffers;
  buffers.record.begin();
  worker::Exchange exchange(worker, buffers, task);
  worker::ExchangeRequest request;
  if (const auto refusal = begin_exchange(connection, task, exchange, request)) {
    buffers.record.answered(static_cast<int>(refusal->code));
    submit_answer(connection, task, refusal->code, refusal->detail);
  } else {
    const worker::ExchangeResult result = co_await exchange.run(request);
    if (!task.cancelled) end_stream(connection, task, result);
  }
  worker::finish_request(worker, buffers, connection.client_ip());
  worker.buffers().release(std::move(task.buffers));
}

void StreamTask::encode_head(const http::ResponseParser& response, const http::ResponseFraming& framing,
                             std::string&) {
  // 1xx: HTTP/2 clients need none (curl and browsers send no Expect over h2);
  // the final response follows.
  if (framing.interim || cancelled) return;
  std::optional<std::uint64_t> length;
  if (framing.framing == http::Framing::length)
    length = framing.content_length;
  else if (framing.pass_content_length && response.content_length())
    length = *response.content_length();
  const bool has_body = framing.framing == http::Framing::until_close ||
                        (framing.framing == http::Framing::length && framing.content_length > 0);
  Stream& s = *stream;
  const int status = response.status();
  make_response_headers(s.response_nva, s.response_names, s.status_text, s.length_text,
                        {.status = status, .fields = &buffers->response_fields, .content_length = length});
  connection->session().submit_response(s, status, s.response_nva, has_body);
  connection->wake_writer();
}

void StreamTask::encode_trailers(const std::vector<http::Field>& trailers, std::string&) {
  if (!cancelled) connection->session().set_response_trailers(*stream, trailers);
}

asio::awaitable<bool> StreamTask::write(std::string_view framed, std::string_view tail) {
  if (cancelled || stream->closed) co_return false;
  Session& session = connection->session();
  if (!framed.empty()) session.append_response_body(*stream, framed);
  if (!tail.empty()) session.append_response_body(*stream, tail);
  connection->wake_writer();
  // A slow reader: wait for the client to take what is buffered.
  while (stream->response_buffered() >= kMaxBufferedResponse && !cancelled) {
    stream->waiting_for_room = true;
    if (!co_await wait_event(room, idle) && !cancelled) {
      reset_stream(*connection, *this, NGHTTP2_CANCEL);  // the client read nothing for timeouts.idle
      co_return false;
    }
  }
  co_return !cancelled;
}

asio::awaitable<bool> StreamTask::send_error(beast_http::status status, std::string_view detail, bool) {
  submit_answer(*connection, *this, status, detail);
  co_return !cancelled;
}

asio::awaitable<BodyRead> StreamTask::read_body(std::string& out) {
  Session& session = connection->session();
  if (unconsumed > 0) {
    // What the previous call handed out is at the backend now.
    session.consume(*stream, unconsumed);
    unconsumed = 0;
    connection->wake_writer();
  }
  for (;;) {
    if (cancelled || body_cancelled) co_return BodyRead::client_gone;
    if (body_too_large) co_return BodyRead::too_large;
    if (!request_body.empty()) {
      append_body(*this, out, request_body);
      unconsumed = request_body.size();
      request_body.clear();
    }
    if (request_body_done) {
      if (chunked_upload) http::append_last_chunk(out);
      // No further call will come to give the window back.
      session.consume(*stream, unconsumed);
      unconsumed = 0;
      connection->wake_writer();
      co_return BodyRead::done;
    }
    if (!out.empty()) co_return BodyRead::more;
    // A client that stops sending its body for timeouts.idle: 408.
    if (!co_await wait_event(body_ready, idle) && request_body.empty() && !request_body_done && !cancelled &&
        !body_cancelled && !body_too_large)
      co_return BodyRead::client_timeout;
  }
}

void StreamTask::cancel_body() {
  body_cancelled = true;
  body_ready.cancel();
}

// HTTP/2 clients get no WebSocket upgrade (ExchangeRequest::websocket is false).
asio::awaitable<void> StreamTask::tunnel(worker::UpstreamConnection&, beast::flat_buffer&, Clock::duration) {
  co_return;
}

}  // namespace keel::http2
