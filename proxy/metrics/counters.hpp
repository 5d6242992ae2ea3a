// Counter blocks written by one worker thread each and summed by the control
// thread on scrape. A block is cache-line aligned, so two workers never write
// the same line; its single writer bumps with a relaxed load and store, never a
// locked read-modify-write.
#pragma once

#include "proxy/metrics/status_slots.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#ifndef KEEL_METRICS
#define KEEL_METRICS 1
#endif

namespace keel::metrics {

// Whether per-request counting is compiled in (cmake -DKEEL_METRICS=OFF removes it,
// to measure its cost); gauges read on scrape stay.
inline constexpr bool kCounting = KEEL_METRICS != 0;

using Counter = std::atomic<std::uint64_t>;

// Single writer only.
inline void bump(Counter& counter, std::uint64_t delta = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

inline std::uint64_t read(const Counter& counter) { return counter.load(std::memory_order_relaxed); }

// keel_request_duration_seconds buckets (upper bounds): Prometheus' defaults.
inline constexpr std::array<double, 11> kDurationBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5,   1,    2.5,   5,    10};
inline constexpr std::array<std::uint64_t, 11> kDurationBoundsNs = {
    5'000'000,   10'000'000,  25'000'000,    50'000'000,    100'000'000,   250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

using StatusCounts = std::array<Counter, kStatusSlots>;

// One worker's counters for one pool.
struct alignas(64) WorkerPoolCounters {
  // Per bucket, not cumulative; the last one is past the highest bound (+Inf).
  std::array<Counter, kDurationBoundsNs.size() + 1> duration_buckets{};
  Counter duration_sum_ns{0};
  Counter retries{0};  // another attempt after a connect failure or a stale keep-alive connection
  // Answered by keel with no backend's response: 503 no backend, 502 once every
  // attempt failed to connect, 499 when the client left first.
  StatusCounts unserved{};

  void observe_duration(std::uint64_t nanoseconds) {
    std::size_t bucket = 0;
    while (bucket < kDurationBoundsNs.size() && nanoseconds > kDurationBoundsNs[bucket]) ++bucket;
    bump(duration_buckets[bucket]);
    bump(duration_sum_ns, nanoseconds);
  }
};

// One worker's counters that belong to no pool.
struct alignas(64) WorkerCounters {
  StatusCounts unrouted{};          // refused before routing: 400, 408, 413, 431...
  Counter accepted_connections{0};  // every accepted client connection
  Counter refused_connections{0};   // closed at once: max_connections reached
  Counter loop_lag_ns{0};           // how late the latest 100 ms tick ran (a gauge)
  Counter http2_connections{0};         // HTTP/2 client connections opened
  Counter http2_connections_closed{0};  // ... and closed (open = the difference)
  Counter http2_client_resets{0};       // streams the client reset (RST_STREAM)
};

// One block per worker, created by the control thread and shared (by pointer)
// with the snapshots; each worker writes only its own block.
template <class Block>
class PerWorker {
 public:
  explicit PerWorker(std::size_t workers) : workers_(workers), blocks_(std::make_unique<Block[]>(workers)) {}

  Block& worker(std::size_t index) { return blocks_[index]; }
  const Block& worker(std::size_t index) const { return blocks_[index]; }
  std::size_t worker_count() const { return workers_; }

  // The sum over workers of one counter of the block.
  std::uint64_t sum(const Counter Block::*field) const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < workers_; ++i) total += read(blocks_[i].*field);
    return total;
  }

 private:
  std::size_t workers_;
  std::unique_ptr<Block[]> blocks_;
};

using PoolStats = PerWorker<WorkerPoolCounters>;

}  // namespace keel::metrics
