#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace keel::control {

// One worker's counters for one backend. Written by that worker only (relaxed
// load + store, no read-modify-write), read by the control thread; a cache line
// each, so workers never write the same line.
struct alignas(64) WorkerBackendCounters {
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> total{0};

  void bump(std::atomic<std::uint64_t>& counter, std::int64_t delta) {
    counter.store(counter.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(delta),
                  std::memory_order_relaxed);
  }
};

// Per-backend counters, one block per worker. Created by the control thread
// with the backend and shared (read-only pointer) with every snapshot.
class BackendStats {
 public:
  explicit BackendStats(std::size_t workers)
      : workers_(workers), counters_(std::make_unique<WorkerBackendCounters[]>(workers)) {}

  WorkerBackendCounters& worker(std::size_t index) { return counters_[index]; }

  std::uint64_t active_requests() const {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < workers_; ++i) sum += counters_[i].in_flight.load(std::memory_order_relaxed);
    return sum;
  }
  std::uint64_t total_requests() const {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < workers_; ++i) sum += counters_[i].total.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  std::size_t workers_;
  std::unique_ptr<WorkerBackendCounters[]> counters_;
};

}  // namespace keel::control
