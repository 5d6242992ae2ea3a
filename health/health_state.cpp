#include "health/health_state.hpp"

#include <algorithm>
#include <cassert>
#include <limits>

namespace keel::health {
namespace {

// Saturates: a backend that passes a check every second for 136 years must not
// wrap around to zero and look like it just started.
void bump(std::uint32_t& count) {
  if (count < std::numeric_limits<std::uint32_t>::max()) ++count;
}

}  // namespace

const char* to_string(Health health) {
  switch (health) {
    case Health::unknown:
      return "unknown";
    case Health::healthy:
      return "healthy";
    case Health::unhealthy:
      return "unhealthy";
  }
  assert(false && "Health value out of range");
  return "unknown";
}

ThresholdTracker::ThresholdTracker(std::uint32_t healthy_threshold,
                                   std::uint32_t unhealthy_threshold, Health initial)
    : healthy_threshold_(std::max<std::uint32_t>(healthy_threshold, 1)),
      unhealthy_threshold_(std::max<std::uint32_t>(unhealthy_threshold, 1)),
      state_(initial) {}

std::optional<Health> ThresholdTracker::record(bool passed) {
  Health reached = state_;
  if (passed) {
    bump(consecutive_passes_);
    consecutive_failures_ = 0;
    if (consecutive_passes_ >= healthy_threshold_) reached = Health::healthy;
  } else {
    bump(consecutive_failures_);
    consecutive_passes_ = 0;
    if (consecutive_failures_ >= unhealthy_threshold_) reached = Health::unhealthy;
  }
  // Nothing is known to weigh against the first result, and waiting for a
  // threshold would keep a new backend out of rotation for intervals.
  if (state_ == Health::unknown) reached = passed ? Health::healthy : Health::unhealthy;
  if (reached == state_) return std::nullopt;
  state_ = reached;
  return state_;
}

PassiveTracker::PassiveTracker(std::uint32_t max_fails, Clock::duration fail_timeout)
    : max_fails_(max_fails), fail_timeout_(std::max(fail_timeout, Clock::duration::zero())) {}

std::string describe(const EjectionCause& cause) {
  const auto count = [](std::uint32_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::string text;
  if (cause.connect_failures > 0) text = count(cause.connect_failures, "connect failure", "connect failures");
  if (cause.timeouts > 0) {
    if (!text.empty()) text += ", ";
    text += count(cause.timeouts, "timeout", "timeouts");
  }
  return text;
}

void PassiveTracker::record_success() {
  consecutive_failures_ = 0;
  run_ = {};
}

bool PassiveTracker::record_failure(Clock::time_point now, LiveFailure kind) {
  if (max_fails_ == 0) return false;
  // Requests sent before the ejection may still fail while it lasts; they say
  // nothing new, so they neither extend it nor count towards the next one.
  if (is_ejected(now)) return false;
  bump(consecutive_failures_);
  bump(kind == LiveFailure::timeout ? run_.timeouts : run_.connect_failures);
  if (consecutive_failures_ < max_fails_) return false;
  consecutive_failures_ = 0;  // after expiry the count starts fresh
  ejection_cause_ = run_;
  run_ = {};
  // Saturate rather than overflow for an absurd fail_timeout.
  ejected_until_ = now <= Clock::time_point::max() - fail_timeout_ ? now + fail_timeout_
                                                                   : Clock::time_point::max();
  return true;
}

bool PassiveTracker::is_ejected(Clock::time_point now) const {
  return ejected_until_ && now < *ejected_until_;
}

std::optional<PassiveTracker::Clock::time_point> PassiveTracker::ejected_until() const {
  return ejected_until_;
}

}  // namespace keel::health
