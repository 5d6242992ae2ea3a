// The exchange of one HTTP/2 stream: its request head (already HTTP/1.1 text)
// goes through the same guard, routing and forwarded headers as an HTTP/1.1
// request, to a backend picked by the pool, and the response comes back as
// HEADERS and DATA. Bodies stream both ways: request DATA is consumed (the
// client's window reopened) only once written to the backend, and no more
// than kMaxBufferedResponse bytes of response wait for a slow client.
//
// TODO(#12): interim. The HTTP/1.1 connection's exchange is being split into
// a shared Exchange; once it lands, a stream drives that instead of this.
#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/request_guard.hpp"
#include "proxy/http2/connection_state.hpp"
#include "proxy/http2/response_head.hpp"
#include "proxy/log/access_log.hpp"
#include "proxy/tls/upstream_context.hpp"
#include "proxy/worker/backend_wait.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>

#include <array>
#include <charconv>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace keel::http2 {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using tcp = asio::ip::tcp;
using worker::Clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t kUpstreamReadChunk = 32 * 1024;
constexpr std::uint32_t kMaxResponseHeadBytes = 64 * 1024;
// Response bytes one stream may hold for a client that reads slowly (or keeps
// its window shut): past it the backend is not read until the client catches up.
constexpr std::size_t kMaxBufferedResponse = 64 * 1024;

// Waits for a cancel() of `timer` (an event) or `timeout`; false on timeout.
asio::awaitable<bool> wait_event(asio::steady_timer& timer, Clock::duration timeout) {
  timer.expires_after(timeout);
  auto [ec] = co_await timer.async_wait(nothrow);
  co_return ec == asio::error::operation_aborted;
}

void answer_error(Connection& connection, StreamTask& task, beast_http::status code, std::string_view detail) {
  if (task.cancelled || task.stream->response_submitted) return;
  std::string body(beast_http::obsolete_reason(code));
  if (!detail.empty()) body.append(": ").append(detail);
  body.append("\n");
  task.buffers->record.answered(static_cast<int>(code));
  connection.session().submit_error(*task.stream, static_cast<int>(code), body);
  connection.wake_writer();
}

asio::awaitable<std::unique_ptr<worker::UpstreamConnection>> connect(Connection& connection,
                                                                     const worker::BackendState& backend,
                                                                     const worker::PoolView& pool) {
  const auto& timeouts = connection.worker().snapshot().timeouts;
  auto upstream = std::make_unique<worker::UpstreamConnection>(connection.worker().deadlines(),
                                                               tcp::socket(connection.client().get_executor()));
  upstream->expires_after(timeouts.connect);
  auto [ec] = co_await upstream->socket().async_connect(backend.endpoint, nothrow);
  upstream->expires_never();
  if (ec) co_return nullptr;
  upstream->socket().set_option(tcp::no_delay(true), ec);
  if (const auto& tls = pool.tls()) {
    upstream->use_tls(tls);
    auto* layer = upstream->stream().tls();
    if (!tls->prepare(layer->native_handle(), backend.address)) co_return nullptr;
    upstream->expires_after(timeouts.connect);
    auto [handshake] = co_await layer->async_handshake(asio::ssl::stream_base::client, nothrow);
    upstream->expires_never();
    if (handshake) co_return nullptr;
  }
  co_return upstream;
}

void append_chunk(std::string& out, std::string_view body) {
  char size_line[20];
  char* end = std::to_chars(size_line, size_line + 16, body.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(size_line, static_cast<std::size_t>(end - size_line)).append(body).append("\r\n");
}

void log_request(Connection& connection, StreamTask& task) {
  worker::ExchangeBuffers& buffers = *task.buffers;
  if (log::AccessLogWriter* access_log = connection.worker().access_log(); access_log && buffers.access.captured) {
    const auto& record = buffers.record;
    access_log->write({.time = buffers.access.time,
                       .client_ip = connection.client_ip(),
                       .method = buffers.access.method,
                       .target = buffers.access.target,
                       .version = 20,
                       .status = record.status,
                       .response_bytes = record.response_bytes,
                       .referer = buffers.access.referer,
                       .user_agent = buffers.access.user_agent,
                       .host = buffers.access.host,
                       .pool = record.pool ? std::string_view(record.pool->name()) : std::string_view(),
                       .backend = record.backend ? std::string_view(record.backend->address) : std::string_view(),
                       .duration = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - record.start)});
  }
  buffers.access.clear();
  buffers.record.finish(connection.worker().counters());
}

enum class Forwarded { done, retry_fresh, failed };

asio::awaitable<Forwarded> forward(Connection& connection, StreamTask& task, worker::UpstreamConnection& upstream,
                                   bool head_request, bool& keep_upstream);

}  // namespace

asio::awaitable<void> run_exchange(Connection& connection, StreamTask& task) {
  worker::Worker& worker = connection.worker();
  task.buffers = worker.buffers().acquire();
  worker::ExchangeBuffers& buffers = *task.buffers;
  buffers.record.begin();
  // A reload may install another snapshot while this exchange waits: only
  // what is read before the first co_await comes from it.
  const control::RoutingSnapshot& snapshot = worker.snapshot();
  const auto limits = snapshot.limits;
  const config::Timeouts timeouts = snapshot.timeouts;

  http::RequestParser& parser = buffers.request.emplace(buffers.request_fields);
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes + 64));
  parser.body_limit(boost::none);
  beast::error_code ec;
  const std::string& head = task.stream->head;
  parser.put(asio::buffer(head), ec);
  std::string_view host;
  http::GuardResult guard = http::GuardResult::ok;
  if (!parser.is_header_done() || (ec && ec != beast_http::error::need_more))
    guard = http::GuardResult::bad_target;  // cannot happen: write_request_head checked it
  if (guard == http::GuardResult::ok) guard = http::scan_raw_head(head);
  if (guard == http::GuardResult::ok) guard = http::check_request_head(parser, host);
  if (guard != http::GuardResult::ok) {
    answer_error(connection, task, guard == http::GuardResult::unsupported_method ? beast_http::status::method_not_allowed
                                                                                 : beast_http::status::bad_request,
                 http::describe(guard));
    log_request(connection, task);
    worker.buffers().release(std::move(task.buffers));
    co_return;
  }
  if (limits.max_body_bytes != 0 && parser.content_length() && *parser.content_length() > limits.max_body_bytes) {
    answer_error(connection, task, beast_http::status::payload_too_large, {});
    task.body_too_large = true;  // what DATA still comes is dropped
    log_request(connection, task);
    worker.buffers().release(std::move(task.buffers));
    co_return;
  }
  task.chunked_upload = parser.chunked();
  const auto framing = parser.chunked()            ? http::Framing::chunked
                       : parser.content_length()   ? http::Framing::length
                                                   : http::Framing::none;
  const http::ForwardContext context{.client_ip = connection.client_ip(),
                                     .proto = connection.client().is_tls() ? "https" : "http",
                                     .mode = snapshot.forwarded_mode,
                                     .default_host = {}};
  buffers.head_out.clear();
  http::write_upstream_request_head(buffers.head_out, parser, host, framing, parser.content_length().value_or(0),
                                    false, context);
  const auto pool = worker.pool(snapshot.router.route(host, parser.target()));
  buffers.record.route(pool);
  if (worker.access_log()) {
    buffers.access.capture(parser, host);
    buffers.access.version = 20;
  }
  const bool head_request = parser.method() == beast_http::verb::head;

  std::array<std::uint64_t, 16> tried{};
  std::size_t tried_count = 0;
  std::uint32_t connect_failures = 0;
  bool retried_stale = false;
  while (!task.cancelled) {
    worker::BackendLease lease = pool->pick(std::span(tried.data(), tried_count));
    if (!lease && connect_failures == 0 && pool->holds_requests())  // scale from zero
      lease = co_await worker::wait_for_backend(worker, *pool, timeouts.upstream_header);
    if (!lease) {
      if (connect_failures == 0)
        answer_error(connection, task, beast_http::status::service_unavailable, "no backend available");
      else
        answer_error(connection, task, beast_http::status::bad_gateway, "backend unreachable");
      break;
    }
    worker::BackendState& backend = lease.backend();
    const bool whole_request = task.request_body_done && task.request_body_bytes == 0;
    std::unique_ptr<worker::UpstreamConnection> upstream =
        retried_stale ? nullptr : worker::take_idle(backend, whole_request);
    if (!upstream) upstream = co_await connect(connection, backend, *pool);
    if (task.cancelled) break;
    if (!upstream) {
      pool->report_failure(backend);
      worker::RequestRecord::connect_failed(backend);
      ++connect_failures;
      if (tried_count < tried.size()) tried[tried_count++] = backend.id;
      if (connect_failures > pool->retries()) {
        answer_error(connection, task, beast_http::status::bad_gateway, "backend unreachable");
        break;
      }
      buffers.record.retried();
      continue;
    }
    buffers.record.served_by(backend);
    task.upstream = upstream.get();
    bool keep_upstream = false;
    const Forwarded result = co_await forward(connection, task, *upstream, head_request, keep_upstream);
    if (task.uploading) {
      // The pump still uses the upstream connection: stop it before it goes.
      keep_upstream = false;
      boost::system::error_code ignored;
      upstream->socket().close(ignored);
      task.body_ready.cancel();
      while (task.uploading) {
        buffers.upload_done.expires_at(asio::steady_timer::time_point::max());
        co_await buffers.upload_done.async_wait(nothrow);
      }
    }
    task.upstream = nullptr;
    if (result == Forwarded::retry_fresh && !retried_stale && whole_request) {
      retried_stale = true;
      buffers.record.retried();
      continue;
    }
    if (result == Forwarded::done) pool->report_success(backend);
    if (result == Forwarded::done && keep_upstream && backend.eligible && !task.cancelled)
      worker::park(backend, std::move(upstream), timeouts.idle);
    break;
  }
  log_request(connection, task);
  worker.buffers().release(std::move(task.buffers));
}

namespace {

asio::awaitable<Forwarded> forward(Connection& connection, StreamTask& task, worker::UpstreamConnection& upstream,
                                   bool head_request, bool& keep_upstream) {
  worker::ExchangeBuffers& buffers = *task.buffers;
  const config::Timeouts timeouts = connection.worker().snapshot().timeouts;
  const bool reused = upstream.is_reused();
  buffers.upstream_input.clear();
  upstream.expires_after(timeouts.idle);
  {
    auto [ec, written] = co_await asio::async_write(upstream.stream(), asio::buffer(buffers.head_out), nothrow);
    if (ec) {
      if (reused && !task.cancelled) co_return Forwarded::retry_fresh;
      answer_error(connection, task, beast_http::status::bad_gateway, "backend closed the connection");
      co_return Forwarded::failed;
    }
    buffers.record.sent_upstream(written);
  }
  if (!task.request_body_done || task.request_body_bytes > 0) {
    task.uploading = true;
    asio::co_spawn(connection.client().get_executor(), pump_upload(connection, task), asio::detached);
  }
  upstream.expires_after(timeouts.upstream_header);

  // The response head; interim 1xx responses are dropped (curl and browsers
  // need none of them over HTTP/2).
  std::optional<http::ResponseParser>& response = buffers.response;
  std::size_t head_bytes = 0;
  bool received_any = false;
  for (;;) {
    response.emplace(buffers.response_fields);
    response->header_limit(kMaxResponseHeadBytes);
    response->body_limit(boost::none);
    if (head_request) response->skip(true);
    for (;;) {
      auto& in = buffers.upstream_input;
      if (in.size() > 0) {
        beast::error_code ec;
        const std::size_t used = response->put(in.data(), ec);
        if (response->is_header_done() && (!ec || ec == beast_http::error::need_more)) {
          head_bytes = used;
          break;
        }
        if (ec && ec != beast_http::error::need_more) {
          answer_error(connection, task, beast_http::status::bad_gateway, "invalid response from backend");
          co_return Forwarded::failed;
        }
      }
      auto [ec, read] = co_await upstream.stream().async_read_some(in.prepare(kUpstreamReadChunk), nothrow);
      if (task.cancelled) co_return Forwarded::failed;
      if (ec) {
        if (upstream.timed_out()) {
          answer_error(connection, task, beast_http::status::gateway_timeout, "backend timed out");
          co_return Forwarded::failed;
        }
        if (reused && !received_any && !task.uploading) co_return Forwarded::retry_fresh;
        answer_error(connection, task, beast_http::status::bad_gateway, "backend closed the connection");
        co_return Forwarded::failed;
      }
      in.commit(read);
      received_any = true;
    }
    const int code = response->status();
    buffers.upstream_input.consume(head_bytes);
    if (code >= 100 && code < 200) {
      if (code == 101) {
        answer_error(connection, task, beast_http::status::bad_gateway, "unexpected upgrade from backend");
        co_return Forwarded::failed;
      }
      continue;
    }
    break;
  }

  const int code = response->status();
  buffers.record.answered(code);
  std::optional<std::uint64_t> length;
  if (response->content_length() && (!response->is_done() || head_request || code == 304))
    length = *response->content_length();
  else if (response->is_done() && !head_request && code != 204 && code != 304)
    length = 0;
  Stream& stream = *task.stream;
  make_response_headers(stream.response_nva, stream.response_names, stream.status_text, stream.length_text,
                        {.status = code, .fields = &buffers.response_fields, .content_length = length});
  const bool has_body = !response->is_done();
  if (task.cancelled) co_return Forwarded::failed;
  connection.session().submit_response(stream, code, stream.response_nva, has_body);
  connection.wake_writer();

  bool complete = !has_body;
  if (has_body) {
    response->set_body_output(&buffers.out, http::Framing::until_close);  // plain bytes: HTTP/2 frames them
    response->eager(true);
    auto& in = buffers.upstream_input;
    for (;;) {
      if (in.size() > 0) {
        beast::error_code ec;
        const std::size_t used = response->put(in.data(), ec);
        in.consume(used);
        if (ec && ec != beast_http::error::need_more) break;  // bad chunk: the stream is reset below
      }
      if (!buffers.out.empty()) {
        buffers.record.sent_client(buffers.out.size());
        connection.session().append_response_body(stream, buffers.out);
        buffers.out.clear();
        connection.wake_writer();
      }
      if (response->is_done()) {
        complete = true;
        break;
      }
      // A slow reader: wait for the client to take what is buffered.
      while (stream.response_buffered() >= kMaxBufferedResponse && !task.cancelled) {
        stream.waiting_for_room = true;
        if (!co_await wait_event(task.room, timeouts.idle) && !task.cancelled) {
          task.cancelled = true;  // the client read nothing for timeouts.idle
          connection.session().reset(stream, NGHTTP2_CANCEL);
          connection.wake_writer();
        }
      }
      if (task.cancelled) co_return Forwarded::failed;
      if (!task.uploading) upstream.expires_after(timeouts.idle);
      auto [ec, read] = co_await upstream.stream().async_read_some(in.prepare(kUpstreamReadChunk), nothrow);
      if (task.cancelled) co_return Forwarded::failed;
      if (ec == asio::error::eof && !response->chunked() && !response->content_length()) {
        beast::error_code eof_ec;
        response->put_eof(eof_ec);
        complete = true;
        break;
      }
      if (ec) break;
      in.commit(read);
    }
  }
  if (!complete) {
    // The backend failed mid-body: the client must not take a cut body for a whole one.
    connection.session().reset(stream, NGHTTP2_INTERNAL_ERROR);
    connection.wake_writer();
    co_return Forwarded::failed;
  }
  if (has_body) {
    connection.session().finish_response_body(stream);
    connection.wake_writer();
  }
  // A backend that answered before the whole upload arrived: the caller stops
  // the pump, and the connection cannot be reused.
  const bool framed = !has_body || response->chunked() || response->content_length().has_value();
  keep_upstream = !task.uploading && response->keep_alive() && framed && buffers.upstream_input.size() == 0 &&
                  upstream.socket().is_open();
  co_return Forwarded::done;
}

}  // namespace

// Request DATA to the backend, re-framed as chunks when the client announced
// no length; each piece is consumed (the client's window reopened) once written.
asio::awaitable<void> pump_upload(Connection& connection, StreamTask& task) {
  const config::Timeouts timeouts = connection.worker().snapshot().timeouts;
  worker::UpstreamConnection* upstream = task.upstream;
  while (!task.cancelled && upstream && upstream->socket().is_open()) {
    if (!task.request_body.empty()) {
      task.sending.clear();
      const std::size_t taken = task.request_body.size();
      if (task.chunked_upload)
        append_chunk(task.sending, task.request_body);
      else
        task.sending.append(task.request_body);
      task.request_body.clear();
      upstream->expires_after(timeouts.idle);
      auto [ec, written] = co_await asio::async_write(upstream->stream(), asio::buffer(task.sending), nothrow);
      if (ec || task.cancelled) break;
      task.buffers->record.sent_upstream(written);
      connection.session().consume(*task.stream, taken);
      connection.wake_writer();
      continue;
    }
    if (task.request_body_done) {
      if (task.chunked_upload) {
        auto [ec, written] = co_await asio::async_write(upstream->stream(), asio::buffer("0\r\n\r\n", 5), nothrow);
        if (!ec) task.buffers->record.sent_upstream(written);
      }
      upstream->expires_after(timeouts.upstream_header);
      break;
    }
    // A client that stops sending its body for timeouts.idle loses the stream.
    upstream->expires_never();
    if (!co_await wait_event(task.body_ready, timeouts.idle) && !task.cancelled && !task.request_body_done &&
        task.request_body.empty()) {
      task.cancelled = true;
      connection.session().reset(*task.stream, NGHTTP2_CANCEL);
      connection.wake_writer();
      boost::system::error_code ignored;
      upstream->socket().close(ignored);
    }
  }
  task.uploading = false;
  task.buffers->upload_done.cancel();  // the exchange may wait for the pump to stop
}

}  // namespace keel::http2
