#include "proxy/worker/worker.hpp"

#include "proxy/http2/accept.hpp"
#include "proxy/http2/connection.hpp"
#include "proxy/worker/client_connection.hpp"
#include "proxy/log/log.hpp"

#include <algorithm>
#include <string>

namespace keel::worker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void (*worker_thread_hook)() = nullptr;

// Deadlines are enforced at this granularity (see DeadlineList).
constexpr auto kTickInterval = std::chrono::milliseconds(100);
constexpr std::uint64_t kTicksPerTrim = 10;
constexpr auto kAcceptWarningInterval = std::chrono::seconds(10);
// A keep-alive client silent for 100-200 ms is parked: busy clients keep their
// coroutine (cheaper per request), idle ones shed it (cheaper to hold).
constexpr std::uint64_t kTicksBeforePark = 2;  // unused exchange buffers are trimmed once a second

namespace {
control::PoolSnapshot empty_pool(const std::string& name) {
  control::PoolSnapshot pool;
  pool.name = name;
  return pool;
}
}  // namespace

struct Worker::Acceptor {
  tcp::acceptor acceptor;
  TlsContext tls;
  bool http2 = true;   // the listener's `http2`: h2c by prior knowledge on a plain one
  tcp::endpoint peer;  // filled by accept: no getpeername per connection
  bool paused = false;  // after an accept error such as EMFILE; resumed by the tick
};

Worker::Worker(std::size_t index, SharedState& shared)
    : index_(index),
      shared_(shared),
      // Sockets and timers of a worker are only ever used on its own thread, so
      // Asio's per-socket locks are dropped; post() from other threads stays safe.
      io_(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
      buffers_(io_->get_executor()) {
  tick_timer_.emplace(*io_);
}

Worker::~Worker() {
  // Destroy what lives on the loop while the loop still exists; the loop's own
  // destruction then frees any coroutine still suspended (a forced stop).
  acceptors_.clear();
  closed_acceptors_.clear();
  tick_timer_.reset();
  pools_.clear();
  buffers_.clear();
  io_.reset();
}

void Worker::add_acceptor(tcp::acceptor acceptor, TlsContext tls, bool http2) {
  acceptors_.push_back(std::make_unique<Acceptor>(Acceptor{std::move(acceptor), std::move(tls), http2, {}}));
}

void Worker::open_listener(tcp::acceptor acceptor, TlsContext tls, bool http2) {
  if (shutting_down_) return;
  add_acceptor(std::move(acceptor), std::move(tls), http2);
  accept_next(*acceptors_.back());
}

void Worker::set_listener_tls(const tcp::endpoint& endpoint, TlsContext tls) {
  for (auto& acceptor : acceptors_) {
    boost::system::error_code ec;
    if (acceptor->acceptor.local_endpoint(ec) == endpoint && !ec) acceptor->tls = tls;
  }
}

void Worker::close_listener(const tcp::endpoint& endpoint) {
  for (auto it = acceptors_.begin(); it != acceptors_.end(); ++it) {
    boost::system::error_code ec;
    if ((*it)->acceptor.local_endpoint(ec) == endpoint && !ec) {
      (*it)->acceptor.close(ec);
      // The pending accept completes with operation_aborted and references the
      // Acceptor: keep it alive until then by parking it.
      closed_acceptors_.push_back(std::move(*it));
      acceptors_.erase(it);
      return;
    }
  }
}

void Worker::run() {
  if (worker_thread_hook) worker_thread_hook();
  for (auto& acceptor : acceptors_) accept_next(*acceptor);
  tick();
  io_->run();
}

void Worker::accept_next(Acceptor& acceptor) {
  acceptor.acceptor.async_accept(acceptor.peer, [this, &acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || shutting_down_) return;
    if (ec) {
      warn_accept_failed(ec);
      acceptor.paused = true;  // the tick resumes it
      return;
    }
    const std::size_t limit = std::min(snapshot_->limits.max_connections, shared_.client_capacity);
    metrics::bump(counters_.accepted_connections);
    if (shared_.client_connections.fetch_add(1, std::memory_order_relaxed) >= limit) {
      shared_.client_connections.fetch_sub(1, std::memory_order_relaxed);
      metrics::bump(counters_.refused_connections);
      boost::system::error_code ignored;
      socket.close(ignored);  // over max_connections: refuse rather than queue unboundedly
    } else {
      ++client_count_;
      // Plain: HTTP/1.1, which hands itself over to HTTP/2 on the preface.
      // TLS: the ClientHello is peeked first (http2/accept.cpp).
      if (!acceptor.tls)
        start_client_connection(*this, shared_, std::move(socket), acceptor.peer, nullptr,
                                acceptor.http2 ? &http2::start_h2c_connection : nullptr);
      else
        http2::start_tls_connection(*this, shared_, std::move(socket), acceptor.peer, acceptor.tls, acceptor.http2);
    }
    accept_next(acceptor);
  });
}

// Out of descriptors, the same failure repeats every tick: one line per
// interval, with how many were not logged.
void Worker::warn_accept_failed(const boost::system::error_code& ec) {
  ++accept_failures_;
  const auto now = Clock::now();
  if (now < next_accept_warning_) return;
  next_accept_warning_ = now + kAcceptWarningInterval;
  std::string line = "worker " + std::to_string(index_) + ": accept failed: " + ec.message() + "; retrying shortly";
  if (accept_failures_ > 1) line += " (" + std::to_string(accept_failures_ - 1) + " more since the last report)";
  log::warn(line);
  accept_failures_ = 0;
}

void Worker::tick() {
  const auto now = Clock::now();
  if (tick_armed_) {  // how late this tick runs: time the loop spent on other work
    const auto lag = std::chrono::duration_cast<std::chrono::nanoseconds>(now - tick_timer_->expiry()).count();
    counters_.loop_lag_ns.store(lag > 0 ? static_cast<std::uint64_t>(lag) : 0, std::memory_order_relaxed);
  }
  deadlines_.check(now);
  if (shutting_down_ && now >= shutdown_deadline_) {
    io_->stop();  // grace period over: in-flight requests are cut
    return;
  }
  if (++ticks_ % kTicksPerTrim == 0) buffers_.trim();
  while (!idle_clients_.empty() && ticks_ - idle_clients_.front().idle_since >= kTicksBeforePark) {
    ClientHandle& client = idle_clients_.front();
    idle_clients_.pop_front();
    client.park_idle();
  }
  for (auto& acceptor : acceptors_) {
    if (acceptor->paused && !shutting_down_) {
      acceptor->paused = false;
      accept_next(*acceptor);
    }
  }
  // Nothing left in flight: maybe_finish_shutdown() cancelled the timer, but this
  // tick may have been queued already; re-arming it would keep the loop alive until
  // the grace ends. (No client can come back: the acceptors are closed.)
  if (shutting_down_ && client_count_ == 0) return;
  tick_timer_->expires_after(kTickInterval);
  tick_armed_ = true;
  tick_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void Worker::install(std::shared_ptr<const control::RoutingSnapshot> next) {
  std::vector<boost::intrusive_ptr<PoolView>> pools;
  pools.reserve(next->pools.size());
  for (const auto& pool : next->pools) {
    boost::intrusive_ptr<PoolView> view;
    for (auto& old : pools_) {
      if (old && old->name() == pool.name) {
        view = std::move(old);
        break;
      }
    }
    if (view)
      view->reconcile(pool);
    else
      view = new PoolView(pool, index_);
    pools.push_back(std::move(view));
  }
  for (auto& removed : pools_) {  // pools that left the config: their backends go too
    if (removed) removed->reconcile(empty_pool(removed->name()));
  }
  pools_ = std::move(pools);
  snapshot_ = std::move(next);
  if (install_listener_) install_listener_(index_, snapshot_->version);
}

void Worker::begin_shutdown(Clock::duration grace) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_deadline_ = Clock::now() + grace;
  for (auto& acceptor : acceptors_) {
    boost::system::error_code ignored;
    acceptor->acceptor.close(ignored);
  }
  for (auto it = clients_.begin(); it != clients_.end();) {
    ClientHandle& client = *it++;
    client.close_when_idle();
  }
  for (auto& pool : pools_) pool->waiters().wake_all();  // requests held for a backend get 503
  maybe_finish_shutdown();
}

void Worker::client_closed() {
  --client_count_;
  maybe_finish_shutdown();
}

void Worker::maybe_finish_shutdown() {
  if (!shutting_down_ || client_count_ != 0) return;
  // Nothing in flight: close parked upstream connections and the tick, and the
  // loop runs out of work.
  for (auto& pool : pools_) pool->reconcile(empty_pool(pool->name()));
  if (tick_timer_) tick_timer_->cancel();
}

}  // namespace keel::worker
