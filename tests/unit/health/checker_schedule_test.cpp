#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "health/checker.hpp"
#include "tests/unit/health/checker_fakes.hpp"

namespace keel::health {
namespace {

using namespace std::chrono_literals;
using namespace fakes;

// The contract: a backend that goes down while healthy is unhealthy within
// interval × unhealthy_threshold + interval, whatever the phase of its schedule,
// the jitter, and even when every failing probe takes the whole timeout.
TEST(Checker, AlwaysFailingBackendGoesUnhealthyWithinTheBound) {
  const auto bound = kDefaults.interval * kDefaults.unhealthy_threshold + kDefaults.interval;
  Clock::duration worst{};
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    for (const char failure : {'T', 'F'}) {
      for (int phase = 0; phase < 20; ++phase) {
        Rig rig(seed);
        // Healthy for a while (first pass, then more), then down at `down`.
        const auto down = rig.scheduler.now() + 5s + phase * 113ms;
        rig.prober.set_behaviour(1, switches_at(down, 'P', failure));
        rig.checker.set_targets("web", kDefaults, targets({1}));
        rig.scheduler.advance_to(down);
        ASSERT_EQ(rig.checker.health(1), Health::healthy);
        ASSERT_EQ(rig.changes.size(), 1u);

        rig.scheduler.advance_to(down + bound);
        ASSERT_EQ(rig.changes.size(), 2u) << "seed " << seed << " phase " << phase;
        const auto& change = rig.changes[1];
        EXPECT_EQ(change.health, Health::unhealthy);
        EXPECT_LE(change.at - down, bound) << "seed " << seed << " phase " << phase;
        worst = std::max(worst, change.at - down);
        // Exactly unhealthy_threshold failing probes, none of them before `down`.
        std::size_t failing = 0;
        for (const auto& call : rig.prober.calls_for(1))
          if (call.start >= down && call.start <= change.at) ++failing;
        EXPECT_EQ(failing, kDefaults.unhealthy_threshold);
        EXPECT_EQ(rig.checker.health(1), Health::unhealthy);
      }
    }
  }
  // The bound is not vacuous: the worst case comes close to it.
  EXPECT_GT(worst, bound - kDefaults.interval);
}

TEST(Checker, FirstProbesAreSpreadWithinTheBound) {
  for (const auto interval : {2000ms, 200ms}) {
    Rig rig(7);
    CheckSettings settings;
    settings.interval = interval;
    settings.timeout = interval / 2;
    std::vector<ProbeTarget> many;
    for (std::uint64_t id = 1; id <= 50; ++id) many.push_back({id, "10.0.0.1:" + std::to_string(id)});
    const auto added = rig.scheduler.now();
    rig.checker.set_targets("web", settings, many);
    const auto first_bound = std::min<Clock::duration>(interval, 500ms);
    rig.scheduler.advance(first_bound);
    std::map<std::uint64_t, FakeProber::Call> first;  // later probes may have started too
    for (const auto& call : rig.prober.calls) first.emplace(call.id, call);
    ASSERT_EQ(first.size(), 50u) << interval.count();
    std::set<Clock::time_point> starts;
    for (const auto& [id, call] : first) {
      EXPECT_GE(call.start, added);
      EXPECT_LT(call.start, added + first_bound);
      starts.insert(call.start);
    }
    EXPECT_GT(starts.size(), 45u) << "first probes bunched together";
    EXPECT_GT(*starts.rbegin() - *starts.begin(), first_bound / 2);
  }
}

TEST(Checker, ProbesEveryIntervalWithJitterFromThePreviousStart) {
  Rig rig(3);
  rig.prober.set_latency(300ms);
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(100 * kDefaults.interval);
  const auto calls = rig.prober.calls_for(1);
  ASSERT_GE(calls.size(), 90u);
  std::set<Clock::duration> gaps;
  for (std::size_t i = 1; i < calls.size(); ++i) {
    const auto gap = calls[i].start - calls[i - 1].start;
    EXPECT_GE(gap, kDefaults.interval * 9 / 10);
    EXPECT_LE(gap, kDefaults.interval * 11 / 10);
    gaps.insert(gap);
  }
  EXPECT_GT(gaps.size(), calls.size() / 2) << "no jitter";
  EXPECT_EQ(rig.prober.overlaps, 0);
}

TEST(Checker, SameSeedSameSchedule) {
  auto starts = [](std::uint32_t seed) {
    Rig rig(seed);
    rig.checker.set_targets("web", kDefaults, targets({1, 2, 3}));
    rig.scheduler.advance(20s);
    std::vector<Clock::time_point> out;
    for (const auto& call : rig.prober.calls) out.push_back(call.start);
    return out;
  };
  EXPECT_EQ(starts(5), starts(5));
  EXPECT_NE(starts(5), starts(6));
}

TEST(Checker, AProbeNeverOverlapsThePreviousOne) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("H"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(10 * kDefaults.interval);
  ASSERT_EQ(rig.prober.calls.size(), 1u);  // still running: nothing else started
  EXPECT_EQ(rig.prober.in_flight(1), 1);

  // The overdue probe starts as soon as the running one completes...
  const auto completed = rig.scheduler.now();
  ASSERT_TRUE(rig.prober.complete(1, {false, "timeout after 1s"}));
  ASSERT_EQ(rig.prober.calls.size(), 2u);
  EXPECT_EQ(rig.prober.calls[1].start, completed);
  // ... and the next one an interval after that start.
  ASSERT_TRUE(rig.prober.complete(1, {false, "status 500"}));
  rig.scheduler.advance(kDefaults.interval * 9 / 10 - 1ns);
  EXPECT_EQ(rig.prober.calls.size(), 2u);
  rig.scheduler.advance(kDefaults.interval / 5 + 1ns);
  ASSERT_EQ(rig.prober.calls.size(), 3u);
  EXPECT_EQ(rig.prober.overlaps, 0);
}

TEST(Checker, SlowProbesLongerThanTheIntervalDoNotOverlap) {
  Rig rig;
  CheckSettings settings;
  settings.interval = 1s;
  settings.timeout = 3s;  // every probe outlasts the interval
  rig.prober.set_behaviour(1, scripted("T"));
  rig.prober.set_behaviour(2, scripted("PT"));
  rig.checker.set_targets("web", settings, targets({1, 2}));
  rig.scheduler.advance(60s);
  EXPECT_EQ(rig.prober.overlaps, 0);
  for (const std::uint64_t id : {1, 2}) {
    const auto calls = rig.prober.calls_for(id);
    ASSERT_GE(calls.size(), 15u);
    // Back to back from the third on (target 2's first probe passes at once).
    for (std::size_t i = 2; i < calls.size(); ++i)
      EXPECT_EQ(calls[i].start - calls[i - 1].start, settings.timeout);
  }
}

TEST(Checker, ShorterIntervalDoesNotWaitOutTheOldOne) {
  Rig rig;
  CheckSettings slow;
  slow.interval = 60s;
  slow.timeout = 1s;
  rig.checker.set_targets("web", slow, targets({1}));
  rig.scheduler.advance(510ms);
  ASSERT_EQ(rig.prober.calls.size(), 1u);
  const auto first_start = rig.prober.calls[0].start;

  CheckSettings fast = slow;
  fast.interval = 2s;
  rig.checker.set_targets("web", fast, targets({1}));
  rig.scheduler.advance(3s);
  const auto calls = rig.prober.calls_for(1);
  ASSERT_GE(calls.size(), 2u);
  EXPECT_LE(calls[1].start - first_start, 2200ms);
  EXPECT_GE(calls[1].start - first_start, 1800ms);
  rig.scheduler.advance(20s);
  EXPECT_GE(rig.prober.calls.size(), 10u);
  EXPECT_EQ(rig.prober.overlaps, 0);
}

}  // namespace
}  // namespace keel::health
