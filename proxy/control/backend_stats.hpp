#pragma once

#include "proxy/metrics/counters.hpp"

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
  // For /metrics: responses this backend gave, by status slot, and traffic.
  metrics::StatusCounts responses{};
  metrics::Counter connect_failures{0};
  metrics::Counter request_bytes{0};   // request head and body bytes sent to the backend
  metrics::Counter response_bytes{0};  // response bytes sent to the client

  void bump(std::atomic<std::uint64_t>& counter, std::int64_t delta) {
    counter.store(counter.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(delta),
                  std::memory_order_relaxed);
  }
};

// Per-backend counters, one block per worker. Created by the control thread
// with the backend and shared (read-only pointer) with every snapshot.
class BackendStats : public metrics::PerWorker<WorkerBackendCounters> {
 public:
  using PerWorker::PerWorker;

  std::uint64_t active_requests() const { return sum(&WorkerBackendCounters::in_flight); }
  std::uint64_t total_requests() const { return sum(&WorkerBackendCounters::total); }
};

}  // namespace keel::control
