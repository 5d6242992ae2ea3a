// Scale from zero on a worker: requests for an autoscaled pool with no backend
// wait here until a snapshot brings one (or their time runs out). The rare
// path: each waiter owns a timer; the normal request path never comes here.
#pragma once

#include "proxy/control/wait_stats.hpp"
#include "proxy/worker/deadline.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <cstddef>

namespace keel::worker {

class PoolView;
class BackendLease;
class Worker;

// Per worker and pool, so a burst on an empty pool is bounded in memory;
// past it, 503 at once.
inline constexpr std::size_t kMaxWaitingPerPool = 1'000;
// Test seam: the bound in force (tests lower it to reach it with a few
// clients). Set before any worker starts.
extern std::size_t max_waiting_per_pool;

// One pool's waiting requests on one worker (worker thread only).
class BackendWaitQueue {
 public:
  using Hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
  struct Waiter : Hook {
    explicit Waiter(boost::asio::steady_timer::executor_type executor) : timer(executor) {}
    boost::asio::steady_timer timer;
  };

  // The counter the control thread reads (this worker's block of the pool's stats).
  void set_counters(control::WorkerWaitCounters* counters);
  bool is_full() const { return count_ >= max_waiting_per_pool; }
  std::size_t size() const { return count_; }
  void add(Waiter& waiter);
  void remove(Waiter& waiter);
  // A new snapshot (or shutdown): every waiter looks again.
  void wake_all();

 private:
  boost::intrusive::list<Waiter, boost::intrusive::constant_time_size<false>> waiters_;
  std::size_t count_ = 0;
  control::WorkerWaitCounters* counters_ = nullptr;
};

// Worker thread. Waits until `pool` has a backend to pick, up to `timeout`;
// an empty lease when the time ran out, the queue is full or the worker is
// shutting down (the caller answers 503).
boost::asio::awaitable<BackendLease> wait_for_backend(Worker& worker, PoolView& pool, Clock::duration timeout);

}  // namespace keel::worker
