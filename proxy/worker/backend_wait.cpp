#include "proxy/worker/backend_wait.hpp"

#include "proxy/worker/pool_view.hpp"
#include "proxy/worker/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace keel::worker {

std::size_t max_waiting_per_pool = kMaxWaitingPerPool;

void BackendWaitQueue::set_counters(control::WorkerWaitCounters* counters) {
  if (counters == counters_) return;
  // Carry the waiters over to the new block (a reload gave the pool new stats).
  if (counters_) counters_->bump(-static_cast<std::int64_t>(count_));
  counters_ = counters;
  if (counters_) counters_->bump(static_cast<std::int64_t>(count_));
}

void BackendWaitQueue::add(Waiter& waiter) {
  waiters_.push_back(waiter);
  ++count_;
  if (counters_) counters_->bump(1);
}

void BackendWaitQueue::remove(Waiter& waiter) {
  waiter.unlink();
  --count_;
  if (counters_) counters_->bump(-1);
}

void BackendWaitQueue::wake_all() {
  for (auto& waiter : waiters_) waiter.timer.cancel();
}

boost::asio::awaitable<BackendLease> wait_for_backend(Worker& worker, PoolView& pool, Clock::duration timeout) {
  BackendWaitQueue& queue = pool.waiters();
  if (queue.is_full() || worker.is_shutting_down()) co_return BackendLease{};
  const auto deadline = Clock::now() + timeout;
  BackendWaitQueue::Waiter waiter(co_await boost::asio::this_coro::executor);
  // Leaves the queue however the wait ends (a forced stop destroys the frame).
  struct Enrolled {
    BackendWaitQueue& queue;
    BackendWaitQueue::Waiter& waiter;
    ~Enrolled() { queue.remove(waiter); }
  };
  queue.add(waiter);
  const Enrolled enrolled{queue, waiter};
  BackendLease lease;
  for (;;) {
    waiter.timer.expires_at(deadline);
    // Cancelled by wake_all (a new snapshot) or expired: either way, look again.
    co_await waiter.timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (worker.is_shutting_down()) break;
    lease = pool.pick({});
    if (lease || Clock::now() >= deadline) break;
  }
  co_return lease;
}

}  // namespace keel::worker
