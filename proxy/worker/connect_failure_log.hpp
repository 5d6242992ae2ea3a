// Failed upstream connects in the operational log (docs/health.md),
// rate-limited: a dead backend under load would otherwise write a line per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace keel::worker {

// One backend's limiter on one worker (worker-local: no lock). The first failure is
// logged at once; later ones at most once per kInterval, with the count of those that
// were not.
class ConnectFailureLog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kInterval = std::chrono::seconds(10);

  // Whether this failure gets a line; if so, `unlogged` is the number of failures
  // since the previous line that got none.
  bool should_log(Clock::time_point now, std::uint64_t& unlogged) {
    if (next_ && now < *next_) {
      ++unlogged_;
      return false;
    }
    unlogged = unlogged_;
    unlogged_ = 0;
    next_ = now + kInterval;
    return true;
  }

 private:
  std::optional<Clock::time_point> next_;
  std::uint64_t unlogged_ = 0;
};

}  // namespace keel::worker
