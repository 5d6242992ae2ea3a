// Scale from zero: how many requests each worker holds waiting for a backend
// of a pool, for the autoscaler on the control thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace keel::control {

// One worker's counters for one pool: requests held waiting for a backend
// (scale from zero). Single writer (that worker), read by the control thread.
struct alignas(64) WorkerWaitCounters {
  std::atomic<std::uint64_t> waiting{0};

  void bump(std::int64_t delta) {
    waiting.store(waiting.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(delta),
                  std::memory_order_relaxed);
  }
};

// Per-pool counters, one block per worker; kept by the control thread across
// reloads (by pool name) and shared with every snapshot.
class PoolWaitStats {
 public:
  explicit PoolWaitStats(std::size_t workers)
      : workers_(workers), counters_(std::make_unique<WorkerWaitCounters[]>(workers)) {}

  WorkerWaitCounters& worker(std::size_t index) { return counters_[index]; }

  std::uint64_t waiting() const {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < workers_; ++i) sum += counters_[i].waiting.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  std::size_t workers_;
  std::unique_ptr<WorkerWaitCounters[]> counters_;
};

}  // namespace keel::control
