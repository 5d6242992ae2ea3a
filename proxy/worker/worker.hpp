#pragma once

#include "proxy/control/snapshot.hpp"
#include "proxy/metrics/counters.hpp"
#include "proxy/worker/deadline.hpp"
#include "proxy/worker/exchange_buffers.hpp"
#include "proxy/worker/pool_view.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::log {
class AccessLogWriter;
}  // namespace keel::log
namespace keel::tls {
class ServerContext;
}

namespace keel::worker {

// Test seam: when set, every worker thread calls it first thing (the allocation
// test marks worker threads with it). Set before any worker starts.
extern void (*worker_thread_hook)();

// What all workers share: read-mostly, written once per connection at most.
struct SharedState {
  std::atomic<std::size_t> client_connections{0};
  std::atomic<std::size_t> parked_clients{0};  // written when a client parks or wakes, not per request
  // What the file-descriptor limit has room for (see DescriptorBudget); set
  // before the workers start, read-only afterwards.
  std::size_t client_capacity = SIZE_MAX;
};

using ClientHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

using IdleHook =
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// Implemented by ClientConnection; lets the worker close idle clients on shutdown
// and park the ones that stay idle.
class ClientHandle : public ClientHook {
 public:
  virtual ~ClientHandle() = default;
  // Worker thread. Closes now if between requests, else after the current response.
  virtual void close_when_idle() = 0;
  // Worker thread. Idle for a while: trade the suspended coroutine for a plain
  // readiness callback, which holds far less memory.
  virtual void park_idle() = 0;

  IdleHook idle_hook;              // in the worker's idle list while waiting between requests
  std::uint64_t idle_since = 0;    // the worker tick at which it went idle
};

// One I/O thread: its own io_context, its acceptors (SO_REUSEPORT), its client
// and upstream connections and its views of the pools. Nothing here is touched
// by another thread except through post().
class Worker {
 public:
  Worker(std::size_t index, SharedState& shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  boost::asio::io_context& context() { return *io_; }
  std::size_t index() const { return index_; }

  // Listeners: `tls` null serves plain HTTP, else HTTPS with that context.
  using TlsContext = std::shared_ptr<const tls::ServerContext>;
  // Before run(): takes an acceptor already bound and listening for this worker.
  // `http2`: the listener's setting (see start_client_connection and http2::start_tls_connection).
  void add_acceptor(boost::asio::ip::tcp::acceptor acceptor, TlsContext tls, bool http2 = true);
  // Worker thread (post it): a listener added by a reload; starts accepting.
  void open_listener(boost::asio::ip::tcp::acceptor acceptor, TlsContext tls, bool http2 = true);
  // Worker thread (post it): new certificates (or none) for a listener after a
  // reload. Connections accepted before keep the context they started with.
  void set_listener_tls(const boost::asio::ip::tcp::endpoint& endpoint, TlsContext tls);
  // Worker thread (post it): a listener removed by a reload; open connections stay.
  void close_listener(const boost::asio::ip::tcp::endpoint& endpoint);
  // Before run(): told (on this worker's thread) each time a snapshot is installed.
  void set_install_listener(std::function<void(std::size_t worker, std::uint64_t version)> listener) {
    install_listener_ = std::move(listener);
  }
  // Thread body: runs the loop until the worker has stopped.
  void run();

  // Worker thread (post it). Swaps in a new snapshot, keeping per-backend state.
  void install(std::shared_ptr<const control::RoutingSnapshot> next);
  // Worker thread (post it). Stops accepting, closes idle clients, lets in-flight
  // requests finish, then lets run() return. `deadline` forces the end.
  void begin_shutdown(Clock::duration grace);

  // For connections of this worker.
  const control::RoutingSnapshot& snapshot() const { return *snapshot_; }
  boost::intrusive_ptr<PoolView> pool(std::size_t index) const { return pools_.at(index); }
  DeadlineList& deadlines() { return deadlines_; }
  BufferPool& buffers() { return buffers_; }
  bool is_shutting_down() const { return shutting_down_; }
  void register_client(ClientHandle& client) { clients_.push_back(client); }
  // Between requests / a request started. A client idle for kTicksBeforePark
  // ticks is parked by the tick.
  void client_idle(ClientHandle& client) {
    client.idle_since = ticks_;
    idle_clients_.push_back(client);
  }
  static void client_busy(ClientHandle& client) { client.idle_hook.unlink(); }
  void client_closed();
  // The access log's end for this worker; null when the log is off. Set before run().
  log::AccessLogWriter* access_log() const { return access_log_; }
  void set_access_log(log::AccessLogWriter* writer) { access_log_ = writer; }
  // Written by this worker only; read by the control thread on scrape.
  metrics::WorkerCounters& counters() { return counters_; }
  const metrics::WorkerCounters& counters() const { return counters_; }

 private:
  struct Acceptor;
  void accept_next(Acceptor& acceptor);
  void warn_accept_failed(const boost::system::error_code& ec);
  void tick();
  void maybe_finish_shutdown();

  std::size_t index_;
  SharedState& shared_;
  metrics::WorkerCounters counters_;
  log::AccessLogWriter* access_log_ = nullptr;
  // Declared first, destroyed explicitly in ~Worker after everything that uses it.
  std::unique_ptr<boost::asio::io_context> io_;
  std::optional<boost::asio::steady_timer> tick_timer_;
  std::uint64_t ticks_ = 0;
  bool tick_armed_ = false;  // tick() ran from the timer, not from run()
  DeadlineList deadlines_;
  BufferPool buffers_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::unique_ptr<Acceptor>> closed_acceptors_;
  std::shared_ptr<const control::RoutingSnapshot> snapshot_;
  std::vector<boost::intrusive_ptr<PoolView>> pools_;
  boost::intrusive::list<ClientHandle, boost::intrusive::constant_time_size<false>> clients_;
  boost::intrusive::list<ClientHandle,
                         boost::intrusive::member_hook<ClientHandle, IdleHook, &ClientHandle::idle_hook>,
                         boost::intrusive::constant_time_size<false>>
      idle_clients_;  // oldest first
  std::size_t client_count_ = 0;
  bool shutting_down_ = false;
  std::uint64_t accept_failures_ = 0;  // since the last warning
  Clock::time_point next_accept_warning_{};
  Clock::time_point shutdown_deadline_{};
  std::function<void(std::size_t, std::uint64_t)> install_listener_;
};

}  // namespace keel::worker
