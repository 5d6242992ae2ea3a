// What /metrics learns from one request, filled in by the client connection
// as the exchange goes and counted once at its end into this worker's blocks:
// no lock, no allocation, no line another core writes.
#pragma once

#include "proxy/metrics/counters.hpp"
#include "proxy/worker/pool_view.hpp"

#include <boost/smart_ptr/intrusive_ptr.hpp>

#include <chrono>
#include <cstdint>

namespace keel::worker {

struct RequestRecord {
  Clock::time_point start{};
  // Held, not borrowed: a reload or drain may drop them mid-request, and their
  // counters must outlive the exchange until counted.
  boost::intrusive_ptr<PoolView> pool;         // null: refused before routing
  boost::intrusive_ptr<BackendState> backend;  // null: no backend answered
  std::uint64_t request_bytes = 0;             // sent to backends
  std::uint64_t response_bytes = 0;            // sent to the client
  std::uint32_t retries = 0;
  int status = 0;  // of the response sent; 0: none (the client left first: counted as 499)

  // Worker thread; each a no-op when counting is compiled out.
  void begin() {
    if constexpr (metrics::kCounting) start = Clock::now();
  }
  void route(const boost::intrusive_ptr<PoolView>& view) {
    if constexpr (metrics::kCounting) pool = view;
  }
  void served_by(BackendState& state) {
    if constexpr (metrics::kCounting) backend = &state;
  }
  void sent_upstream(std::size_t bytes) {
    if constexpr (metrics::kCounting) request_bytes += bytes;
  }
  void sent_client(std::size_t bytes) {
    if constexpr (metrics::kCounting) response_bytes += bytes;
  }
  void retried() {
    if constexpr (metrics::kCounting) ++retries;
  }
  void answered(int code) {
    if constexpr (metrics::kCounting) status = code;
  }
  static void connect_failed(BackendState& state) {
    if constexpr (metrics::kCounting)
      if (state.counters) metrics::bump(state.counters->connect_failures);
  }

  // Worker thread. Counts the request (if it was one) and resets the record.
  void finish(metrics::WorkerCounters& worker) {
    if constexpr (metrics::kCounting) {
      if (pool) {
        count_routed(*pool);
      } else if (status != 0) {
        metrics::bump(worker.unrouted[metrics::status_slot(status)]);
      }
    }
    pool.reset();
    backend.reset();
    request_bytes = response_bytes = 0;
    retries = 0;
    status = 0;
  }

 private:
  void count_routed(PoolView& view) {
    metrics::WorkerPoolCounters* counters = view.counters();
    if (!counters) return;
    const std::size_t slot = metrics::status_slot(status != 0 ? status : 499);
    if (control::WorkerBackendCounters* b = backend ? backend->counters : nullptr) {
      metrics::bump(b->responses[slot]);
      metrics::bump(b->request_bytes, request_bytes);
      metrics::bump(b->response_bytes, response_bytes);
    } else {
      metrics::bump(counters->unserved[slot]);
    }
    if (retries != 0) metrics::bump(counters->retries, retries);
    const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    counters->observe_duration(elapsed > 0 ? static_cast<std::uint64_t>(elapsed) : 0);
  }
};

}  // namespace keel::worker
