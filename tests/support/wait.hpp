// Bounded waiting for tests. Prefer a real event (a backend's request queue, a child's
// "listening on" line, a future); poll with wait_until only where no event exists, such
// as another process's state seen over HTTP.
#pragma once

#include <chrono>
#include <functional>

namespace keel::test {

using namespace std::chrono_literals;

// The default bound for one blocking step of a test: long enough for a loaded CI
// machine, short enough to fail well inside the ctest TIMEOUT.
inline constexpr std::chrono::milliseconds kDefaultDeadline = 5s;

// A point in time a sequence of steps must finish by; pass remaining() to each step.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(std::chrono::milliseconds budget) : at_(Clock::now() + budget) {}

  Clock::time_point at() const { return at_; }
  bool is_expired() const { return Clock::now() >= at_; }
  // Zero once expired, never negative.
  std::chrono::milliseconds remaining() const;

 private:
  Clock::time_point at_;
};

// Polls pred (first immediately, then with a backoff growing from 1 ms to 50 ms) until it
// returns true or the deadline passes; pred is evaluated one last time at the deadline.
// Returns the last result. Runs pred on the calling thread.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline);

}  // namespace keel::test
