#pragma once

#include "health/health_state.hpp"
#include "proxy/metrics/counters.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

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
  // Passive checks eject per worker; this worker's latest ejection, for the admin
  // API: its end (steady clock, ns since its epoch; 0: never ejected) and the
  // failures that caused it. Written (rarely) by the worker, end last with release.
  std::atomic<std::int64_t> ejected_until_ns{0};
  std::atomic<std::uint32_t> ejected_connect_failures{0};
  std::atomic<std::uint32_t> ejected_timeouts{0};

  void bump(std::atomic<std::uint64_t>& counter, std::int64_t delta) {
    counter.store(counter.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(delta),
                  std::memory_order_relaxed);
  }

  // The owning worker, when its PassiveTracker ejects the backend.
  void publish_ejection(std::chrono::steady_clock::time_point until, const health::EjectionCause& cause) {
    ejected_connect_failures.store(cause.connect_failures, std::memory_order_relaxed);
    ejected_timeouts.store(cause.timeouts, std::memory_order_relaxed);
    ejected_until_ns.store(until.time_since_epoch() / std::chrono::nanoseconds(1), std::memory_order_release);
  }
};

// A backend kept out of rotation by passive checks on at least one worker.
struct Ejection {
  std::chrono::steady_clock::time_point until;
  health::EjectionCause cause;
};

// Per-backend counters, one block per worker. Created by the control thread
// with the backend and shared (read-only pointer) with every snapshot.
class BackendStats : public metrics::PerWorker<WorkerBackendCounters> {
 public:
  using PerWorker::PerWorker;

  std::uint64_t active_requests() const { return sum(&WorkerBackendCounters::in_flight); }
  std::uint64_t total_requests() const { return sum(&WorkerBackendCounters::total); }

  // Control thread: the ejection that lasts longest among the workers that have
  // the backend ejected at `now`; nullopt when none has. A worker ejecting again
  // while this reads may pair its new end with the old cause: display only.
  std::optional<Ejection> ejection(std::chrono::steady_clock::time_point now) const {
    std::optional<Ejection> latest;
    const std::int64_t now_ns = now.time_since_epoch() / std::chrono::nanoseconds(1);
    for (std::size_t i = 0; i < worker_count(); ++i) {
      const auto& block = worker(i);
      const std::int64_t until_ns = block.ejected_until_ns.load(std::memory_order_acquire);
      if (until_ns <= now_ns) continue;
      if (latest && until_ns <= latest->until.time_since_epoch() / std::chrono::nanoseconds(1)) continue;
      latest = Ejection{
          .until = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(until_ns)),
          .cause = {.connect_failures = block.ejected_connect_failures.load(std::memory_order_relaxed),
                    .timeouts = block.ejected_timeouts.load(std::memory_order_relaxed)}};
    }
    return latest;
  }
};

}  // namespace keel::control
