// Exchange: routing, the pick/retry loop, connecting, and the answers keel
// makes itself. Forwarding and the relays are in exchange_relay.cpp.
#include "proxy/worker/exchange.hpp"

#include "proxy/log/access_log.hpp"
#include "proxy/log/log.hpp"
#include "proxy/tls/upstream_context.hpp"
#include "proxy/worker/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>

// GCC 12 inlines Asio's coroutine-frame operator new (aligned_alloc) into its
// operator delete (free) and then flags the pair as mismatched; they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace keel::worker {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// As the config file writes durations: "2s", "1500ms".
std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  return ms != 0 && ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

// Which step of connecting to a backend failed.
enum class ConnectStep : std::uint8_t { tcp, tls_setup, tls_handshake };

// Worker thread. Tells the operator a backend cannot be connected to, with the
// cause, without a line per request (a backend that is down fails every request
// sent to it): at most one per backend and worker every ConnectFailureLog::kInterval,
// counting the failures in between. A plain function taking plain values: its
// strings stay out of the calling coroutine's frame.
void log_connect_failure(BackendState& backend, const PoolView& pool, ConnectStep step,
                         const boost::system::error_code& ec, bool timed_out, std::chrono::milliseconds timeout) {
  std::uint64_t unlogged = 0;
  if (!backend.connect_failures_logged.should_log(Clock::now(), unlogged)) return;
  std::string cause = step == ConnectStep::tls_setup       ? std::string("TLS setup failed")
                      : step == ConnectStep::tls_handshake ? std::string("TLS handshake failed: ")
                                                           : std::string();
  if (step != ConnectStep::tls_setup) {
    if (timed_out)
      cause += "timeout after " + duration_text(timeout);
    else if (ec == asio::error::connection_refused)
      cause += "connection refused";
    else
      cause += ec.message();
  }
  std::string line = "pool " + pool.name() + ": cannot connect to backend " + backend.address + ": " + cause;
  if (unlogged > 0) line += " (and " + std::to_string(unlogged) + " more failed connects since the last report)";
  log::warn(line);
}

}  // namespace

void finish_request(Worker& worker, ExchangeBuffers& buffers, std::string_view client_ip) {
  AccessCapture& access = buffers.access;
  const RequestRecord& record = buffers.record;
  if (log::AccessLogWriter* access_log = worker.access_log(); access_log && (access.captured || record.status)) {
    const auto duration = access.captured ? Clock::now() - record.start : Clock::duration(0);
    access_log->write({.time = access.captured ? access.time : std::chrono::system_clock::now(),
                       .client_ip = client_ip,
                       .method = access.method,
                       .target = access.target,
                       .version = access.version,
                       .status = record.status,
                       .response_bytes = record.response_bytes,
                       .referer = access.referer,
                       .user_agent = access.user_agent,
                       .host = access.host,
                       .pool = record.pool ? std::string_view(record.pool->name()) : std::string_view(),
                       .backend = record.backend ? std::string_view(record.backend->address) : std::string_view(),
                       .duration = std::chrono::duration_cast<std::chrono::nanoseconds>(duration)});
    access.clear();
  }
  buffers.record.finish(worker.counters());
}

void Exchange::route(std::string_view host, std::string_view target) {
  const control::RoutingSnapshot& snapshot = worker_.snapshot();
  b_.state.pool = worker_.pool(snapshot.router.route(host, target));
  b_.record.route(b_.state.pool);
}

asio::awaitable<ExchangeResult> Exchange::run(const ExchangeRequest& request) {
  b_.state.body_complete = request.body_complete;
  PoolView& pool = *b_.state.pool;
  // An answer before any byte reached a backend leaves the connection usable
  // if the client wants that and sent its whole request.
  const bool keep_after_refusal = request.keep_alive && request.body_complete;

  // Backends tried and refused (by id); past 16 the balancer may offer one again.
  std::array<std::uint64_t, 16> tried{};
  std::size_t tried_count = 0;
  std::uint32_t connect_failures = 0;
  bool retried_stale = false;
  for (;;) {
    if (b_.state.cancelled) co_return ExchangeResult{};  // client_gone
    BackendLease lease = pool.pick(std::span(tried.data(), tried_count));
    if (!lease && connect_failures == 0 && pool.holds_requests())  // scale from zero
      lease = co_await wait_for_backend(worker_, pool, worker_.snapshot().timeouts.upstream_header);
    if (!lease) {
      co_return co_await answer(
          refused(connect_failures == 0 ? http::ProxyError::no_backend : http::ProxyError::connect_failed),
          keep_after_refusal);
    }
    BackendState& backend = lease.backend();
    std::unique_ptr<UpstreamConnection> upstream =
        retried_stale ? nullptr : take_idle(backend, request.body_complete);
    if (!upstream) upstream = co_await connect(backend, pool);
    if (!upstream) {
      pool.report_failure(backend);
      RequestRecord::connect_failed(backend);
      ++connect_failures;
      if (tried_count < tried.size()) tried[tried_count++] = backend.id;
      if (connect_failures > pool.retries())
        co_return co_await answer(refused(http::ProxyError::connect_failed), keep_after_refusal);
      b_.record.retried();
      continue;
    }

    if (b_.state.cancelled) co_return ExchangeResult{};  // cancelled while connecting
    b_.record.served_by(backend);
    b_.state.upstream = upstream.get();
    ExchangeResult result = co_await forward(request, *upstream, request.keep_alive && !worker_.is_shutting_down());
    b_.state.upstream = nullptr;
    const bool relayed = result.outcome == Outcome::complete || result.outcome == Outcome::cut;
    if (result.passive_failure)  // only a backend timeout is one (connect failures are reported above)
      pool.report_failure(backend, health::LiveFailure::timeout);
    else if (relayed)
      pool.report_success(backend);
    if (result.outcome == Outcome::retry_fresh && !retried_stale) {
      retried_stale = true;  // a reused connection the backend had closed: once more, fresh
      b_.record.retried();
      continue;
    }
    if (result.outcome == Outcome::refused) co_return co_await answer(result, false);
    if (relayed && result.keep_upstream && backend.eligible)
      park(backend, std::move(upstream), worker_.snapshot().timeouts.idle);
    else
      result.keep_upstream = false;
    if (!relayed) result.keep_client = false;
    co_return result;
  }
}

void Exchange::cancel() {
  b_.state.cancelled = true;
  if (UpstreamConnection* upstream = b_.state.upstream) {
    boost::system::error_code ignored;
    upstream->socket().close(ignored);  // pending reads and writes end with an error
  }
  if (b_.state.upload_running) client_.cancel_body();
}

asio::awaitable<ExchangeResult> Exchange::answer(ExchangeResult result, bool keep_alive) {
  if (b_.state.cancelled) co_return ExchangeResult{};  // nobody to answer
  const auto code = http::status_for(result.error);
  const std::string_view detail = result.error == http::ProxyError::no_backend
                                      ? no_backend_detail(*b_.state.pool)
                                      : http::describe(result.error);
  result.status = static_cast<int>(code);
  b_.record.answered(result.status);
  result.keep_client = co_await client_.send_error(code, detail, keep_alive);
  co_return result;
}

std::string_view Exchange::no_backend_detail(const PoolView& pool) {
  std::string& detail = b_.error_detail;
  detail.clear();
  pool.unavailable_reason(detail);
  return detail;
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> Exchange::connect(BackendState& backend, PoolView& pool) {
  // A copy: a new snapshot may land while connecting ("upstream TCP/TLS connect").
  const auto connect_timeout = worker_.snapshot().timeouts.connect;
  auto upstream = std::make_unique<UpstreamConnection>(worker_.deadlines(), tcp::socket(worker_.context()));
  upstream->expires_after(connect_timeout);
  auto [ec] = co_await upstream->socket().async_connect(backend.endpoint, nothrow);
  upstream->expires_never();
  if (ec) {
    log_connect_failure(backend, pool, ConnectStep::tcp, ec, upstream->timed_out(), connect_timeout);
    co_return nullptr;
  }
  upstream->socket().set_option(tcp::no_delay(true), ec);
  if (const auto& tls = pool.tls()) {
    // The handshake gets the connect timeout too.
    upstream->use_tls(tls);
    auto* layer = upstream->stream().tls();
    if (!tls->prepare(layer->native_handle(), backend.address)) {
      log_connect_failure(backend, pool, ConnectStep::tls_setup, {}, false, connect_timeout);
      co_return nullptr;
    }
    upstream->expires_after(connect_timeout);
    auto [handshake] = co_await layer->async_handshake(asio::ssl::stream_base::client, nothrow);
    upstream->expires_never();
    if (handshake) {
      log_connect_failure(backend, pool, ConnectStep::tls_handshake, handshake, upstream->timed_out(),
                          connect_timeout);
      co_return nullptr;
    }
  }
  co_return upstream;
}

}  // namespace keel::worker
