#include "tests/support/wait.hpp"

#include <algorithm>
#include <thread>

namespace keel::test {

std::chrono::milliseconds Deadline::remaining() const {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - Clock::now());
  return std::max(left, std::chrono::milliseconds::zero());
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  std::chrono::milliseconds backoff = 1ms;
  for (;;) {
    if (pred()) return true;
    const auto left = until.remaining();
    if (left == 0ms) return false;
    // The documented polling fallback: sleep a bounded step, never past the deadline.
    std::this_thread::sleep_for(std::min(backoff, left));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace keel::test
