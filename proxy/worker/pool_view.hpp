#pragma once

#include "balancer/selection.hpp"
#include "health/health_state.hpp"
#include "proxy/control/snapshot.hpp"
#include "proxy/worker/connect_failure_log.hpp"
#include "proxy/worker/backend_wait.hpp"
#include "proxy/worker/upstream_pool.hpp"

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace keel::worker {

class PoolView;

// A backend as one worker sees it: worker-local, so its counters are plain
// integers and its reference count is not atomic.
struct BackendState
    : boost::intrusive_ref_counter<BackendState, boost::thread_unsafe_counter> {
  ~BackendState();

  std::uint64_t id = 0;
  std::string address;
  boost::asio::ip::tcp::endpoint endpoint;
  std::uint32_t in_flight = 0;
  bool eligible = true;  // false once draining, unhealthy or removed: no new request, no reuse
  // Why the snapshot keeps it out of rotation, for the 503 body (passive ejection aside).
  enum class Out : std::uint8_t { no, draining, unhealthy, awaiting_check } out = Out::no;
  // This worker's counters block, read by the control thread (API, drain).
  std::shared_ptr<control::BackendStats> stats;
  control::WorkerBackendCounters* counters = nullptr;
  // Passive checks: this worker's own view of live-traffic failures.
  std::optional<health::PassiveTracker> passive;
  ConnectFailureLog connect_failures_logged;
  PoolView* view = nullptr;  // null once removed from its pool
  std::size_t index = 0;     // position in view's arrays
  std::deque<std::unique_ptr<UpstreamConnection>> idle;  // parked, oldest first
};

// Holds one in-flight request against a backend; releasing it (destructor)
// gives the request slot back to least-connections.
class BackendLease {
 public:
  BackendLease() = default;
  explicit BackendLease(boost::intrusive_ptr<BackendState> backend);
  BackendLease(BackendLease&& other) noexcept : backend_(std::move(other.backend_)) {}
  BackendLease& operator=(BackendLease&& other) noexcept;
  ~BackendLease() { release(); }

  explicit operator bool() const { return backend_ != nullptr; }
  BackendState& backend() const { return *backend_; }
  void release();

 private:
  boost::intrusive_ptr<BackendState> backend_;
};

// One worker's view of one pool: the backends of the latest snapshot plus the
// worker-local selection state (in-flight counts, round-robin weights).
class PoolView : public boost::intrusive_ref_counter<PoolView, boost::thread_unsafe_counter> {
 public:
  PoolView(const control::PoolSnapshot& snapshot, std::size_t worker_index);
  ~PoolView();

  // Takes the new membership, keeping per-backend state by id. Backends that
  // left close their parked connections; their in-flight requests finish.
  void reconcile(const control::PoolSnapshot& snapshot);

  // Picks an eligible backend not in `tried` (backend ids). Empty lease: none.
  BackendLease pick(std::span<const std::uint64_t> tried);

  // Live-traffic outcomes for passive checks (no-ops without `passive`). An
  // ejection is also published in the backend's counters, for the admin API.
  void report_failure(BackendState& backend, health::LiveFailure kind = health::LiveFailure::connect);
  void report_success(BackendState& backend);

  // Why pick() finds nothing, in one short line for a 503 body, appended to
  // `out`: "no backend available in pool web: 2 unhealthy, 1 draining". Not on
  // the request path's happy side.
  void unavailable_reason(std::string& out) const;

  const std::string& name() const { return name_; }
  std::uint32_t retries() const { return retries_; }
  // Scale from zero: a request should wait rather than get 503, because the
  // pool is autoscaled down to nothing (no backend that serves or fails; one
  // added and awaiting its first health check counts as nothing yet).
  bool holds_requests() const { return holds_when_empty_ && serving_or_failing_ == 0; }
  BackendWaitQueue& waiters() { return waiters_; }
  // TLS towards this pool's backends; null: plain HTTP.
  const std::shared_ptr<const tls::UpstreamContext>& tls() const { return tls_; }
  std::size_t size() const { return backends_.size(); }
  // This worker's counters for the pool (null in tests that build snapshots by hand).
  metrics::WorkerPoolCounters* counters() const { return counters_; }

 private:
  friend class BackendLease;

  void refresh_ejections(Clock::time_point now);

  std::size_t worker_index_;
  std::string name_;
  config::Balance balance_;
  std::uint32_t retries_;
  std::shared_ptr<const tls::UpstreamContext> tls_;
  std::optional<config::Passive> passive_;
  std::shared_ptr<metrics::PoolStats> stats_;
  metrics::WorkerPoolCounters* counters_ = nullptr;
  std::size_t ejected_count_ = 0;
  Clock::time_point next_readmission_ = Clock::time_point::max();
  std::vector<bool> snapshot_eligible_;  // eligibility before passive ejection
  std::vector<boost::intrusive_ptr<BackendState>> backends_;
  // Parallel arrays in the layout the balancer takes.
  std::vector<balancer::Candidate> candidates_;
  std::vector<std::int64_t> current_;
  std::vector<std::uint32_t> in_flight_;
  bool holds_when_empty_ = false;
  std::size_t serving_or_failing_ = 0;
  std::shared_ptr<control::PoolWaitStats> wait_stats_;
  BackendWaitQueue waiters_;
};

}  // namespace keel::worker
