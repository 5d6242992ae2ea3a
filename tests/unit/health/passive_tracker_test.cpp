#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "health/health_state.hpp"

namespace keel::health {
namespace {

using namespace std::chrono_literals;
using Clock = PassiveTracker::Clock;

// Any fixed point will do; steady_clock's epoch means nothing.
constexpr Clock::time_point kStart = Clock::time_point{} + 1h;
constexpr Clock::duration kTick = Clock::duration{1};

enum class Op {
  fail,     // expect: record_failure(at) returned true (this failure ejected)
  succeed,  // expect: ignored
  ejected,  // expect: is_ejected(at)
};

struct Step {
  Op op;
  Clock::duration at;  // since kStart
  bool expect = false;
};

struct PassiveCase {
  const char* name;
  std::uint32_t max_fails;
  Clock::duration fail_timeout;
  std::vector<Step> steps;
};

TEST(PassiveTracker, Script) {
  using enum Op;
  const std::vector<PassiveCase> cases = {
      {"max_fails consecutive failures eject until exactly now + fail_timeout",
       3,
       10s,
       {{ejected, 0s, false},
        {fail, 0s, false},
        {fail, 1s, false},
        {ejected, 1s, false},
        {fail, 2s, true},
        {ejected, 2s, true},
        {ejected, 12s - kTick, true},
        {ejected, 12s, false},
        {ejected, 13s, false}}},
      {"a success resets the count",
       3,
       10s,
       {{fail, 0s, false},
        {fail, 1s, false},
        {succeed, 2s},
        {fail, 3s, false},
        {fail, 4s, false},
        {ejected, 4s, false},
        {fail, 5s, true},
        {ejected, 5s, true}}},
      {"failures while ejected neither extend the ejection nor count",
       3,
       10s,
       {{fail, 0s, false},
        {fail, 0s, false},
        {fail, 0s, true},
        {fail, 1s, false},
        {fail, 5s, false},
        {fail, 10s - kTick, false},
        {ejected, 10s - kTick, true},
        {ejected, 10s, false},
        {fail, 10s, false},
        {fail, 10s, false},
        {ejected, 10s, false},
        {fail, 11s, true},
        {ejected, 21s - kTick, true},
        {ejected, 21s, false}}},
      {"after expiry one failure does not eject again",
       3,
       10s,
       {{fail, 0s, false},
        {fail, 0s, false},
        {fail, 0s, true},
        {fail, 10s, false},
        {ejected, 10s, false},
        {ejected, 1h, false}}},
      {"failures far apart still count: only a success resets",
       2,
       10s,
       {{fail, 0s, false}, {fail, 24h, true}, {ejected, 24h + 5s, true}}},
      {"a success while ejected does not cut the ejection short",
       2,
       10s,
       {{fail, 0s, false},
        {fail, 0s, true},
        {succeed, 1s},
        {ejected, 1s, true},
        {ejected, 10s - kTick, true},
        {ejected, 10s, false}}},
      {"max_fails 1 ejects on every failure outside an ejection",
       1,
       10s,
       {{fail, 0s, true},
        {fail, 5s, false},
        {ejected, 10s - kTick, true},
        {fail, 10s, true},
        {ejected, 20s - kTick, true},
        {ejected, 20s, false}}},
      {"max_fails 0 never ejects",
       0,
       10s,
       {{fail, 0s, false},
        {fail, 0s, false},
        {fail, 1s, false},
        {fail, 2s, false},
        {ejected, 2s, false},
        {succeed, 3s},
        {fail, 4s, false},
        {ejected, 4s, false}}},
      {"zero fail_timeout ejects for no time at all",
       1,
       0s,
       {{fail, 0s, true}, {ejected, 0s, false}, {fail, 0s, true}}},
  };
  for (const auto& c : cases) {
    PassiveTracker tracker(c.max_fails, c.fail_timeout);
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      const Step& step = c.steps[i];
      const Clock::time_point now = kStart + step.at;
      switch (step.op) {
        case fail:
          EXPECT_EQ(tracker.record_failure(now), step.expect) << c.name << ", step " << i;
          break;
        case succeed:
          tracker.record_success();
          break;
        case ejected:
          EXPECT_EQ(tracker.is_ejected(now), step.expect) << c.name << ", step " << i;
          break;
      }
    }
  }
}

TEST(PassiveTracker, EjectedUntilReportsTheLatestDeadline) {
  PassiveTracker tracker(2, 30s);
  EXPECT_EQ(tracker.ejected_until(), std::nullopt);
  EXPECT_FALSE(tracker.record_failure(kStart));
  EXPECT_EQ(tracker.ejected_until(), std::nullopt);
  EXPECT_TRUE(tracker.record_failure(kStart + 1s));
  EXPECT_EQ(tracker.ejected_until(), kStart + 31s);

  EXPECT_FALSE(tracker.record_failure(kStart + 20s));
  EXPECT_EQ(tracker.ejected_until(), kStart + 31s);

  // Kept once it has passed: callers compare it with their own `now`.
  EXPECT_FALSE(tracker.is_ejected(kStart + 31s));
  EXPECT_EQ(tracker.ejected_until(), kStart + 31s);

  EXPECT_FALSE(tracker.record_failure(kStart + 40s));
  EXPECT_TRUE(tracker.record_failure(kStart + 41s));
  EXPECT_EQ(tracker.ejected_until(), kStart + 71s);
}

TEST(PassiveTracker, DisabledNeverReportsADeadline) {
  PassiveTracker tracker(0, 30s);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(tracker.record_failure(kStart + i * 1ms));
  EXPECT_EQ(tracker.ejected_until(), std::nullopt);
}

TEST(PassiveTracker, HugeFailTimeoutSaturatesInsteadOfOverflowing) {
  PassiveTracker tracker(1, Clock::duration::max());
  EXPECT_TRUE(tracker.record_failure(kStart));
  EXPECT_EQ(tracker.ejected_until(), Clock::time_point::max());
  EXPECT_TRUE(tracker.is_ejected(kStart + 24h * 365 * 100));
}

TEST(PassiveTracker, NegativeFailTimeoutActsAsZero) {
  PassiveTracker tracker(1, -5s);
  EXPECT_TRUE(tracker.record_failure(kStart));
  EXPECT_EQ(tracker.ejected_until(), kStart);
  EXPECT_FALSE(tracker.is_ejected(kStart));
}

TEST(PassiveTracker, EjectionCauseCountsTheFailuresOfTheEjectingRunByKind) {
  PassiveTracker tracker(3, 10s);
  EXPECT_EQ(tracker.ejection_cause(), EjectionCause{});
  // A failure then a success: that run is forgotten.
  EXPECT_FALSE(tracker.record_failure(kStart, LiveFailure::timeout));
  tracker.record_success();
  EXPECT_FALSE(tracker.record_failure(kStart + 1s, LiveFailure::connect));
  EXPECT_FALSE(tracker.record_failure(kStart + 2s, LiveFailure::timeout));
  EXPECT_EQ(tracker.ejection_cause(), EjectionCause{});  // not ejected yet
  EXPECT_TRUE(tracker.record_failure(kStart + 3s, LiveFailure::connect));
  EXPECT_EQ(tracker.ejection_cause(), (EjectionCause{.connect_failures = 2, .timeouts = 1}));

  // Failures while ejected change nothing; the next ejection has its own cause.
  EXPECT_FALSE(tracker.record_failure(kStart + 4s, LiveFailure::timeout));
  EXPECT_EQ(tracker.ejection_cause(), (EjectionCause{.connect_failures = 2, .timeouts = 1}));
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(tracker.record_failure(kStart + 20s + i * 1s, LiveFailure::timeout));
  EXPECT_TRUE(tracker.record_failure(kStart + 23s, LiveFailure::timeout));
  EXPECT_EQ(tracker.ejection_cause(), (EjectionCause{.connect_failures = 0, .timeouts = 3}));
}

TEST(PassiveTracker, DescribesTheCauseForPeople) {
  EXPECT_EQ(describe({.connect_failures = 3, .timeouts = 0}), "3 connect failures");
  EXPECT_EQ(describe({.connect_failures = 1, .timeouts = 0}), "1 connect failure");
  EXPECT_EQ(describe({.connect_failures = 0, .timeouts = 1}), "1 timeout");
  EXPECT_EQ(describe({.connect_failures = 0, .timeouts = 2}), "2 timeouts");
  EXPECT_EQ(describe({.connect_failures = 2, .timeouts = 1}), "2 connect failures, 1 timeout");
  EXPECT_EQ(describe({}), "");
}

}  // namespace
}  // namespace keel::health
