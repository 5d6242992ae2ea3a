#include "proxy/control/health_report.hpp"

#include <gtest/gtest.h>

namespace keel::control {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

// 2026-12-04T17:00:00Z
const SystemClock::time_point kWall = SystemClock::time_point(1796403600s);
const SteadyClock::time_point kSteady = SteadyClock::time_point(5000h);
const ClockPair kNow{kSteady, kWall};

TEST(HealthReport, WritesUtcToTheSecond) {
  EXPECT_EQ(utc_text(kWall), "2026-12-04T17:00:00Z");
  EXPECT_EQ(utc_text(kWall + 999ms), "2026-12-04T17:00:00Z");
  EXPECT_EQ(utc_text(kWall - 1ms), "2026-12-04T16:59:59Z");
  EXPECT_EQ(utc_text(SystemClock::time_point{}), "1970-01-01T00:00:00Z");
}

TEST(HealthReport, CheckTimeIsShownOnTheWallClock) {
  const health::CheckReport report{.at = kSteady - 1500ms, .passed = false, .detail = "connection refused",
                                   .latency = 1234567ns, .consecutive = 4};
  const auto info = check_info(report, kNow);
  EXPECT_EQ(info.last, "2026-12-04T16:59:58Z");
  EXPECT_FALSE(info.passed);
  EXPECT_EQ(info.detail, "connection refused");
  EXPECT_DOUBLE_EQ(info.latency_ms, 1.235);  // to the microsecond
  EXPECT_EQ(info.consecutive, 4u);
}

TEST(HealthReport, EjectionEndAndReason) {
  const auto info = ejection_info({.until = kSteady + 10s, .cause = {.connect_failures = 3}}, kNow);
  EXPECT_EQ(info.until, "2026-12-04T17:00:10Z");
  EXPECT_EQ(info.reason, "3 connect failures");
  // An ejection saturated at the end of time (an absurd fail_timeout) stays printable.
  const auto forever = ejection_info({.until = SteadyClock::time_point::max(), .cause = {.timeouts = 1}}, kNow);
  EXPECT_EQ(forever.until.substr(0, 2), "21");
  EXPECT_EQ(forever.reason, "1 timeout");
}

TEST(HealthReport, EjectionIsTheLongestAmongWorkersStillEjecting) {
  BackendStats stats(3);
  EXPECT_EQ(stats.ejection(kSteady), std::nullopt);
  stats.worker(0).publish_ejection(kSteady - 1s, {.connect_failures = 9});  // over
  EXPECT_EQ(stats.ejection(kSteady), std::nullopt);
  stats.worker(1).publish_ejection(kSteady + 5s, {.connect_failures = 2});
  stats.worker(2).publish_ejection(kSteady + 3s, {.timeouts = 2});
  const auto ejection = stats.ejection(kSteady);
  ASSERT_TRUE(ejection);
  EXPECT_EQ(ejection->until, kSteady + 5s);
  EXPECT_EQ(ejection->cause, (health::EjectionCause{.connect_failures = 2}));
  EXPECT_EQ(stats.ejection(kSteady + 4s)->until, kSteady + 5s);
  EXPECT_EQ(stats.ejection(kSteady + 5s), std::nullopt);
}

}  // namespace
}  // namespace keel::control
