// The autoscale decision of one pool, after Knative's KPA: pure logic, no
// clock (time is a parameter), no I/O. The control thread samples the pool's
// concurrency and asks for a decision; the result is only a recommendation.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace keel::balancer {

// Knative's panic threshold: panic when the panic window asks for at least
// twice the current capacity.
inline constexpr double kPanicThreshold = 2.0;
// Samples are aggregated in buckets this wide; windows are whole multiples.
inline constexpr std::chrono::milliseconds kAutoscaleBucket{1'000};

struct AutoscaleSettings {
  double target_concurrency = 10;  // in-flight requests per backend; > 0
  std::uint32_t min_backends = 1;
  std::uint32_t max_backends = 20;  // >= max(1, min_backends)
  std::chrono::milliseconds stable_window{60'000};
  std::chrono::milliseconds panic_window{6'000};  // < stable_window, >= one bucket

  bool operator==(const AutoscaleSettings&) const = default;
};

enum class ScaleMode { stable, panic };

const char* to_string(ScaleMode mode);

struct ScaleDecision {
  std::uint32_t desired = 0;
  // The average concurrency of the window that decided: the panic window in
  // panic mode, the stable window otherwise.
  double observed_concurrency = 0;
  ScaleMode mode = ScaleMode::stable;
};

// Time is a duration since any fixed origin (the caller's steady clock epoch);
// it must never go backwards between calls.
class Autoscaler {
 public:
  using Time = std::chrono::milliseconds;

  // `current`: the pool's size now; the first recommendation is that size
  // (clamped), so a restart does not ask for a change before it has data.
  Autoscaler(const AutoscaleSettings& settings, std::uint32_t current, Time now);

  // One sample of the pool's concurrency: requests in flight on its backends
  // plus requests waiting for one (scale from zero).
  void record(Time now, double concurrency);

  // The recommendation at `now` for a pool of `current` serving backends
  // with `waiting` requests held for lack of any backend.
  ScaleDecision decide(Time now, std::uint32_t current, std::uint64_t waiting);

  const ScaleDecision& last() const { return last_; }
  const AutoscaleSettings& settings() const { return settings_; }

 private:
  struct Bucket {
    std::int64_t index = -1;  // now / kAutoscaleBucket of the samples it holds; -1: empty
    double sum = 0;
    std::uint32_t count = 0;
  };

  // Average over the buckets of the last `window`; nullopt-like -1 when none.
  double average(Time now, std::chrono::milliseconds window) const;
  std::uint32_t clamp(std::uint32_t desired) const;

  AutoscaleSettings settings_;
  std::vector<Bucket> buckets_;  // ring, one slot per bucket of the stable window
  Time started_;                 // first moment samples cover: scale-down waits a full stable window
  bool in_panic_ = false;
  Time last_over_threshold_{};   // panic lasts a stable window past this
  std::uint32_t panic_floor_ = 0;  // in panic desired never goes below this
  ScaleDecision last_;
};

}  // namespace keel::balancer
