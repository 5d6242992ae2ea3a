// Exchange: one attempt against one backend connection. The request head goes
// out, the body follows from the upload pump (a coroutine beside the response
// relay), the response head comes back (1xx relayed, 101 tunnelled), then the
// body relay: one parse -> write -> read loop for every framing.
#include "proxy/worker/exchange.hpp"

#include "proxy/worker/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <array>

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into its
// operator delete (free) and then flags the pair as mismatched; they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace keel::worker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = beast::http;
using tcp = asio::ip::tcp;
using http::ProxyError;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// Responses are read in bigger steps: a 16 KiB body and its head in one read.
constexpr std::size_t kUpstreamReadChunk = 32 * 1024;
constexpr std::uint32_t kMaxResponseHeadBytes = 64 * 1024;

UploadError upload_error_for(BodyRead read) {
  switch (read) {
    case BodyRead::client_timeout:
      return UploadError::client_timeout;
    case BodyRead::too_large:
      return UploadError::too_large;
    case BodyRead::bad_body:
      return UploadError::bad_body;
    default:
      return UploadError::client_gone;
  }
}

}  // namespace

bool Exchange::upload_failed_on_client_side() const {
  const ExchangeState& s = b_.state;
  return !s.upload_running && s.upload_error != UploadError::none && s.upload_error != UploadError::upstream_failed;
}

ExchangeResult Exchange::fail_upload() const {
  switch (b_.state.upload_error) {
    case UploadError::client_timeout:
      return refused(ProxyError::body_timeout);
    case UploadError::too_large:
      return refused(ProxyError::body_too_large);
    case UploadError::bad_body:
      return refused(ProxyError::bad_body);
    default:
      return {.outcome = Outcome::client_gone};  // nobody to answer
  }
}

// Kept lean: this frame is recycled by Asio per request, and every error that
// owes the client an answer is returned (refused()) for run() to send.
asio::awaitable<ExchangeResult> Exchange::forward(const ExchangeRequest& request, UpstreamConnection& upstream,
                                                  bool keep_client) {
  const config::Timeouts limits = worker_.snapshot().timeouts;  // a copy: a new snapshot may land mid-exchange
  ExchangeState& state = b_.state;
  const bool reused = upstream.is_reused();
  const bool whole_request_buffered = state.body_complete;  // b_.head_out can be replayed
  b_.upstream_input.clear();  // nothing of an earlier attempt's backend

  upstream.expires_after(limits.idle);
  {
    auto [ec, written] = co_await asio::async_write(upstream.stream(), asio::buffer(b_.head_out), nothrow);
    if (ec) {
      if (reused && whole_request_buffered) co_return ExchangeResult{.outcome = Outcome::retry_fresh};
      co_return refused(upstream.timed_out() ? ProxyError::upstream_send_timeout : ProxyError::upstream_send_failed);
    }
    b_.record.sent_upstream(written);
  }

  state.upload_error = UploadError::none;
  state.response_started = false;
  if (!whole_request_buffered) {
    state.upload_running = true;
    asio::co_spawn(upstream.socket().get_executor(), pump_request_body(upstream), asio::detached);
  } else {
    upstream.expires_after(limits.upstream_header);
  }

  const int client_version = request.client_version;
  std::optional<http::ResponseParser>& response = b_.response;  // kept out of this frame
  std::size_t head_bytes = 0;
  bool received_any = false;

  // The response head; interim 1xx responses are relayed and the next read.
  for (;;) {
    response.emplace(b_.response_fields);
    response->header_limit(kMaxResponseHeadBytes);
    response->body_limit(boost::none);
    if (request.head_request) response->skip(true);
    for (;;) {
      auto& in = b_.upstream_input;
      if (in.size() > 0) {
        beast::error_code ec;
        const std::size_t used = response->put(in.data(), ec);
        if (response->is_header_done() && (!ec || ec == beast_http::error::need_more)) {
          head_bytes = used;
          break;
        }
        if (ec && ec != beast_http::error::need_more) {
          co_await abort_upload(upstream);
          co_return refused(ProxyError::bad_response);
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
        const bool upload_was_running = state.upload_running;
        co_await abort_upload(upstream);
        if (!upload_was_running && upload_failed_on_client_side()) co_return fail_upload();
        if (timed_out) co_return refused(ProxyError::upstream_timeout, true);  // a passive-check failure
        if (reused && !received_any && whole_request_buffered)
          co_return ExchangeResult{.outcome = Outcome::retry_fresh};
        co_return refused(ProxyError::upstream_closed);
      }
      in.commit(read);
      received_any = true;
    }

    const int code = response->status();
    if (code >= 100 && code < 200 && code != 101) {
      // 100 Continue and friends: HTTP/1.0 clients don't know them.
      b_.upstream_input.consume(head_bytes);
      if (client_version >= 11) {
        b_.out.clear();
        client_.encode_head(*response, {.interim = true}, b_.out);
        if (!co_await write_client(b_.out)) {
          co_await abort_upload(upstream);
          co_return ExchangeResult{.outcome = Outcome::client_gone};
        }
      }
      continue;
    }
    break;
  }
  state.response_started = true;

  const int code = response->status();
  b_.record.answered(code);
  if (code == 101) {
    co_await abort_upload(upstream);  // a tunnel owns both sockets from here
    if (!request.websocket || state.upload_error != UploadError::none)
      co_return refused(ProxyError::unexpected_upgrade);
    b_.out.clear();
    client_.encode_head(*response, {.websocket = true}, b_.out);
    b_.upstream_input.consume(head_bytes);
    if (!co_await write_client(b_.out)) co_return ExchangeResult{.outcome = Outcome::client_gone};
    co_await client_.tunnel(upstream, b_.upstream_input, limits.idle);
    co_return ExchangeResult{.outcome = Outcome::complete, .status = code};
  }

  http::ResponsePlan plan = http::plan_response({.status = code,
                                                 .head_request = request.head_request,
                                                 .body_done = response->is_done(),
                                                 .chunked = response->chunked(),
                                                 .content_length = response->content_length(),
                                                 .client_version = client_version});
  keep_client = http::keep_client_after_head(
      keep_client, plan.to_client.framing, state.upload_running || state.upload_error != UploadError::none);
  plan.to_client.keep_alive = keep_client;

  b_.out.clear();
  client_.encode_head(*response, plan.to_client, b_.out);
  b_.upstream_input.consume(head_bytes);
  const http::RelayFacts relayed = co_await relay_body(upstream, plan.from_backend, plan.to_client.framing,
                                                       plan.to_client.content_length, limits.idle);

  const bool upload_was_running = state.upload_running;
  if (upload_was_running) co_await abort_upload(upstream);  // the backend answered before the client finished
  ExchangeResult result{.outcome = relayed.complete ? Outcome::complete : Outcome::cut, .status = code};
  result.keep_client = http::keep_client_after_relay(keep_client, upload_was_running, relayed);
  result.keep_upstream = http::keep_upstream_after({.relay = relayed,
                                                    .backend_keep_alive = response->keep_alive(),
                                                    .from_backend = plan.from_backend,
                                                    .upload_failed = state.upload_error != UploadError::none,
                                                    .bytes_left_over = b_.upstream_input.size() != 0,
                                                    .socket_open = upstream.socket().is_open()});
  co_return result;
}

// The response body: parse what the backend sent (a Content-Length body passes
// through untouched, written straight from the upstream buffer with the head
// in front of its first bytes; chunked and close-delimited bodies are
// re-framed by the parser into b_.out), write it to the client, read more.
asio::awaitable<http::RelayFacts> Exchange::relay_body(UpstreamConnection& upstream, http::Framing from_backend,
                                                       http::Framing to_client, std::uint64_t length,
                                                       Clock::duration idle) {
  http::RelayFacts result;
  auto& in = b_.upstream_input;
  http::ResponseParser& response = *b_.response;
  const bool passthrough = from_backend == http::Framing::length;
  const bool trailers_apart = client_.byte_stream() == nullptr;  // chunked HTTP/1.1 carries them inline
  std::uint64_t remaining = passthrough ? length : 0;
  if (!passthrough) {
    response.set_body_output(&b_.out, to_client);
    if (trailers_apart) response.set_trailer_output(&b_.trailer_fields);
    response.eager(true);
  }
  bool at_eof = false;
  for (;;) {
    // Parse: what of the input is the client's.
    std::size_t take = 0;
    if (passthrough) {
      take = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), remaining));
    } else if (in.size() > 0 && !response.is_done()) {
      beast::error_code ec;
      in.consume(response.put(in.data(), ec));
      if (ec && ec != beast_http::error::need_more) result.upstream_intact = false;  // what was sent stays sent
    }
    const bool finished = passthrough ? take == remaining : response.is_done() || at_eof;
    if (finished && trailers_apart && !b_.trailer_fields.empty()) client_.encode_trailers(b_.trailer_fields, b_.out);

    // Write.
    if (take > 0 || !b_.out.empty()) {
      bool written_ok = false;
      if (tls::Stream* stream = client_.byte_stream()) {
        const std::array<asio::const_buffer, 2> pieces{asio::buffer(b_.out), asio::const_buffer(in.data().data(), take)};
        client_.before_write(idle);
        auto [ec, written] = co_await asio::async_write(*stream, pieces, nothrow);
        b_.record.sent_client(written);
        written_ok = !ec;
      } else {
        written_ok = co_await client_.write(b_.out, std::string_view(static_cast<const char*>(in.data().data()), take));
        if (written_ok) b_.record.sent_client(b_.out.size() + take);
      }
      if (!written_ok) {
        result.client_intact = false;
        co_return result;
      }
      b_.out.clear();
      in.consume(take);
      remaining -= take;
    }
    if (finished || !result.upstream_intact) break;

    // Read.
    if (!b_.state.upload_running) upstream.expires_after(idle);  // else the upload pump keeps the deadline
    auto [ec, read] = co_await upstream.stream().async_read_some(in.prepare(kUpstreamReadChunk), nothrow);
    if (ec == asio::error::eof && from_backend == http::Framing::until_close) {
      beast::error_code eof_ec;
      response.put_eof(eof_ec);  // the body ends here; a chunked client gets its last chunk
      at_eof = true;
      continue;
    }
    if (ec) {
      result.upstream_intact = false;  // the backend died mid-body
      break;
    }
    in.commit(read);
  }
  result.complete = result.upstream_intact && (passthrough ? remaining == 0 : response.is_done());
  co_return result;
}

// The request body, beside the response relay: read from the client, write to
// the backend, until the body is complete or either side fails.
asio::awaitable<void> Exchange::pump_request_body(UpstreamConnection& upstream) {
  const config::Timeouts limits = worker_.snapshot().timeouts;
  ExchangeState& state = b_.state;
  UploadError error = UploadError::none;
  for (;;) {
    // Waiting for the client, the backend may be waiting for us (for the rest
    // of the body, even if it has started answering): its side has no deadline
    // meanwhile, so a stalled upload times out on the client's side (nginx's
    // client_body_timeout), and is the client's fault: 408, not 504.
    upstream.expires_never();
    const BodyRead read = co_await client_.read_body(b_.upload_out);
    if (read != BodyRead::more && read != BodyRead::done) {
      error = upload_error_for(read);
      break;
    }
    if (!b_.upload_out.empty()) {
      upstream.expires_after(limits.idle);
      auto [ec, written] = co_await asio::async_write(upstream.stream(), asio::buffer(b_.upload_out), nothrow);
      b_.record.sent_upstream(written);
      b_.upload_out.clear();
      if (ec) {
        error = UploadError::upstream_failed;
        break;
      }
    }
    if (read == BodyRead::done) break;
  }
  b_.upload_out.clear();
  state.upload_error = error;
  state.upload_running = false;
  // The response reader sets no deadline while the pump runs: arm it here.
  boost::system::error_code ignored;
  if (error == UploadError::none) {
    upstream.expires_after(state.response_started ? limits.idle : limits.upstream_header);
  } else if (error == UploadError::client_timeout && state.response_started) {
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
  b_.upload_done.cancel();
}

// Stops a running upload (the exchange is over without it) and waits for the
// pump to let go of both sides. The client connection cannot be reused after.
asio::awaitable<void> Exchange::abort_upload(UpstreamConnection& upstream) {
  if (!b_.state.upload_running) co_return;
  boost::system::error_code ignored;
  upstream.socket().close(ignored);
  client_.cancel_body();
  co_await wait_upload();
}

asio::awaitable<void> Exchange::wait_upload() {
  while (b_.state.upload_running) {
    b_.upload_done.expires_at(asio::steady_timer::time_point::max());
    co_await b_.upload_done.async_wait(nothrow);
  }
}

asio::awaitable<bool> Exchange::write_client(std::string_view data) {
  const auto idle = worker_.snapshot().timeouts.idle;
  if (tls::Stream* stream = client_.byte_stream()) {
    client_.before_write(idle);
    auto [ec, written] = co_await asio::async_write(*stream, asio::buffer(data), nothrow);
    b_.record.sent_client(written);
    co_return !ec;
  }
  const bool written = co_await client_.write(data, {});
  if (written) b_.record.sent_client(data.size());
  co_return written;
}

}  // namespace keel::worker
