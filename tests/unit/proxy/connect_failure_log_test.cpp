#include "proxy/worker/connect_failure_log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace keel::worker {
namespace {

using namespace std::chrono_literals;
using Clock = ConnectFailureLog::Clock;

// A failure at each offset; "L<n>" when it gets a line reporting n unlogged ones, "." when not.
std::string run(std::initializer_list<Clock::duration> offsets) {
  ConnectFailureLog log;
  const Clock::time_point start{1h};
  std::string seen;
  for (const auto offset : offsets) {
    std::uint64_t unlogged = 99;
    seen += log.should_log(start + offset, unlogged) ? "L" + std::to_string(unlogged) + " " : ". ";
  }
  return seen;
}

TEST(ConnectFailureLog, FirstAtOnceThenOncePerInterval) {
  static_assert(ConnectFailureLog::kInterval == 10s);
  EXPECT_EQ(run({0s}), "L0 ");
  EXPECT_EQ(run({0s, 1s, 2s, 9999ms, 10s, 11s, 19s, 20s}), "L0 . . . L3 . . L2 ");
  // Quiet for a long time: the next failure gets its line at once, with nothing owed.
  EXPECT_EQ(run({0s, 1h}), "L0 L0 ");
}

}  // namespace
}  // namespace keel::worker
