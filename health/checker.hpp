// Active health checks: which backend to probe when, and what the results mean.
// The probing itself (HTTP over sockets) and the passing of time are behind two
// interfaces, Prober and Scheduler, so this module needs no I/O and no clock and
// its tests run in virtual time.
#pragma once

#include "health/health_state.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::health {

// What a Prober needs to reach a pool's backends besides their addresses, opaque to
// the checker (keel's HttpProber: the pool's TLS client settings).
class ProbeTransport {
 public:
  virtual ~ProbeTransport() = default;
};

// A pool's `health_check` settings (docs/configuration.md).
struct CheckSettings {
  std::string path = "/healthz";
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds timeout{1000};
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
  std::uint16_t expect_min = 200;
  std::uint16_t expect_max = 399;
  std::shared_ptr<const ProbeTransport> transport;  // null: the prober's default (plain HTTP)

  // A probe passes when the backend answers with a status in [expect_min, expect_max].
  bool is_expected_status(unsigned status) const {
    return status >= expect_min && status <= expect_max;
  }
  bool operator==(const CheckSettings&) const = default;
};

struct ProbeTarget {
  std::uint64_t backend_id = 0;
  std::string address;  // "ip:port" or "[v6]:port": where to connect
  std::string name{};   // as configured ("host:port"), for TLS names; empty: `address`
};

struct ProbeResult {
  bool passed = false;
  std::string detail;  // for logs and the API: "status 500", "connection refused", "timeout after 1s"
};

// Probes one backend once.
class Prober {
 public:
  using Done = std::function<void(ProbeResult)>;

  virtual ~Prober() = default;

  // `done` is called exactly once, on the scheduler's thread, at most
  // `settings.timeout` after this call: the prober enforces the deadline. It may
  // be called before probe() returns. The arguments are only valid during the call.
  virtual void probe(const ProbeTarget& target, const CheckSettings& settings, Done done) = 0;
};

// Time for the checker: a steady clock and one-shot timers.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~Scheduler() = default;

  virtual Clock::time_point now() const = 0;
  // Runs `fn` once on the scheduler's thread, `delay` from now (a delay <= 0: as soon
  // as possible), never from within call_after itself.
  virtual void call_after(Clock::duration delay, std::function<void()> fn) = 0;
};

// The latest completed probe of a backend, as the admin API shows it.
struct CheckReport {
  Scheduler::Clock::time_point at{};     // when the result arrived
  bool passed = false;
  std::string detail;                    // ProbeResult::detail
  Scheduler::Clock::duration latency{};  // from the start of the probe to its result
  std::uint32_t consecutive = 0;         // results in a row like this one, itself included

  bool operator==(const CheckReport&) const = default;
};

// Probes the backends of any number of pools and turns the results into health.
// Control thread: every member, and every callback it receives from the prober and
// the scheduler, runs on the one thread, so nothing is locked.
//
// From unknown the first result decides; afterwards the thresholds apply (see
// ThresholdTracker). A new target is first probed after a random delay in
// [0, min(interval, 500ms)), so a pool of many backends is not probed all at once;
// then every interval ± 10%, measured from the start of the previous probe. Probes
// of one target never overlap: one that comes due while the previous still runs
// starts when that completes.
//
// Backend ids are unique across pools. Callbacks that arrive for a target that was
// removed (or removed and added again) or after stop() are ignored; they hold only
// a weak reference, so the Checker may also be destroyed before they arrive.
class Checker {
 public:
  // Called on every change of a target's health, including the first one from
  // unknown, with the detail of the result that caused it. It may call back into
  // the Checker.
  using OnChange =
      std::function<void(std::uint64_t backend_id, Health health, const std::string& detail)>;

  // `seed` drives the jitter (std::mt19937), so a run is reproducible.
  Checker(Prober& prober, Scheduler& scheduler, OnChange on_change, std::uint32_t seed);
  ~Checker();  // stop()

  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Makes `targets` the checked backends of `pool`. New ones start unknown and are
  // scheduled; kept ones (same backend_id) keep their health, their counts (unless a
  // threshold changed) and their schedule (unless the interval changed), and use
  // `settings` from their next probe on; the pool's other targets are forgotten. An id
  // checked for another pool moves to this one. Ignored after stop().
  void set_targets(const std::string& pool, const CheckSettings& settings,
                   std::vector<ProbeTarget> targets);
  // Forgets every target of `pool`.
  void remove_pool(const std::string& pool);

  // Unknown for an id that is not checked.
  Health health(std::uint64_t backend_id) const;
  // nullopt for an id that is not checked or has no completed probe yet. A kept
  // target (set_targets) keeps its report; a removed one loses it.
  std::optional<CheckReport> last_check(std::uint64_t backend_id) const;

  // Forgets every target and probes nothing more; final.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared only so that pending callbacks can hold a weak_ptr
};

}  // namespace keel::health
