#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace keel::health {

enum class Health { unknown, healthy, unhealthy };

const char* to_string(Health health);

// Active-check state machine. A backend starts `unknown`, and from unknown the
// first result decides (a pass: healthy, a failure: unhealthy), so a newly added
// backend gets traffic right after its first passing check. From then on
// `healthy_threshold` consecutive passes make an unhealthy backend healthy and
// `unhealthy_threshold` consecutive failures make a healthy one unhealthy.
// A threshold of 0 counts as 1.
class ThresholdTracker {
 public:
  ThresholdTracker(std::uint32_t healthy_threshold, std::uint32_t unhealthy_threshold,
                   Health initial = Health::unknown);

  // Returns the new state when this result changed it, nullopt otherwise.
  std::optional<Health> record(bool passed);
  Health state() const { return state_; }

 private:
  std::uint32_t healthy_threshold_;
  std::uint32_t unhealthy_threshold_;
  Health state_;
  std::uint32_t consecutive_passes_ = 0;
  std::uint32_t consecutive_failures_ = 0;
};

// Passive checks on live traffic: `max_fails` consecutive failures (connect
// failures, timeouts) eject the backend for `fail_timeout`; a success resets the
// count. Time is a parameter, so tests need no clock. max_fails == 0 disables.
// Failures reported while ejected come from requests sent before it: they
// neither extend the ejection nor count towards the next one, and a success does
// not end it early. After it expires the count starts from zero. A negative
// fail_timeout counts as zero.
//
// The failures of the run that ejected the backend are kept by kind, so that the
// admin API can say why ("3 connect failures", "2 timeouts, 1 connect failure").
enum class LiveFailure { connect, timeout };

struct EjectionCause {
  std::uint32_t connect_failures = 0;
  std::uint32_t timeouts = 0;

  bool operator==(const EjectionCause&) const = default;
};

// "3 connect failures", "1 timeout", "2 connect failures, 1 timeout".
std::string describe(const EjectionCause& cause);

class PassiveTracker {
 public:
  using Clock = std::chrono::steady_clock;

  PassiveTracker(std::uint32_t max_fails, Clock::duration fail_timeout);

  void record_success();
  // Returns true when this failure ejected the backend.
  bool record_failure(Clock::time_point now, LiveFailure kind = LiveFailure::connect);
  // Ejected while now < ejected_until().
  bool is_ejected(Clock::time_point now) const;
  // The deadline of the latest ejection, kept after it passes; nullopt if never ejected.
  std::optional<Clock::time_point> ejected_until() const;
  // The failures that caused the latest ejection; zeros if never ejected.
  const EjectionCause& ejection_cause() const { return ejection_cause_; }

 private:
  std::uint32_t max_fails_;
  Clock::duration fail_timeout_;
  std::uint32_t consecutive_failures_ = 0;
  EjectionCause run_{};  // the current run of failures, by kind
  EjectionCause ejection_cause_{};
  std::optional<Clock::time_point> ejected_until_;
};

}  // namespace keel::health
