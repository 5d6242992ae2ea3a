#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "balancer/autoscaler.hpp"

namespace keel::balancer {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

AutoscaleSettings settings(double target, std::uint32_t min, std::uint32_t max, seconds stable, seconds panic) {
  return {.target_concurrency = target,
          .min_backends = min,
          .max_backends = max,
          .stable_window = stable,
          .panic_window = panic};
}

// One step of a recorded load trace: `seconds` at `concurrency`.
struct Step {
  int seconds;
  double concurrency;
};

// Replays a trace as the control thread does: ten samples a second (at
// x.05 s, x.15 s ... x.95 s, so each second fills one bucket), one decision
// a second (at x.95 s, after the last sample of the second). With `follow`, the pool follows the recommendation at
// once (a listener that adds and removes instantly); else it stays at
// `current`. Returns one character per decision: the desired count (as a
// digit, 'a' for 10...) and 'P' after it when in panic.
struct Replay {
  std::string desired;  // "1 1 2P 3P ..."
  std::vector<ScaleDecision> decisions;
};

Replay replay(const AutoscaleSettings& s, std::uint32_t current, const std::vector<Step>& trace, bool follow) {
  Autoscaler autoscaler(s, current, milliseconds(0));
  Replay out;
  milliseconds second_start(0);
  milliseconds now(0);
  for (const Step& step : trace) {
    for (int second = 0; second < step.seconds; ++second, second_start += seconds(1)) {
      for (int sample = 0; sample < 10; ++sample) {
        now = second_start + milliseconds(50 + 100 * sample);
        autoscaler.record(now, step.concurrency);
      }
      const auto decision = autoscaler.decide(now, current, 0);
      out.decisions.push_back(decision);
      if (!out.desired.empty()) out.desired += ' ';
      out.desired += std::to_string(decision.desired);
      if (decision.mode == ScaleMode::panic) out.desired += 'P';
      if (follow) current = decision.desired;
    }
  }
  return out;
}

TEST(Autoscaler, FirstRecommendationIsTheCurrentSizeClamped) {
  const auto s = settings(10, 2, 5, seconds(60), seconds(6));
  EXPECT_EQ(Autoscaler(s, 3, milliseconds(0)).last().desired, 3u);
  EXPECT_EQ(Autoscaler(s, 0, milliseconds(0)).last().desired, 2u);
  EXPECT_EQ(Autoscaler(s, 9, milliseconds(0)).last().desired, 5u);
}

TEST(Autoscaler, DesiredIsCeilOfConcurrencyOverTarget) {
  struct Case {
    double concurrency;
    std::uint32_t expected;
  };
  const Case cases[] = {{0, 1}, {0.1, 1}, {10, 1}, {10.5, 2}, {20, 2}, {20.01, 3}, {25, 3}, {30, 3}};
  for (const auto& c : cases) {
    // Current 3 keeps every case under the panic threshold (2 x 30).
    auto s = settings(10, 1, 20, seconds(4), seconds(2));
    Autoscaler autoscaler(s, 3, milliseconds(0));
    milliseconds now(0);
    for (int i = 0; i < 50; ++i) {
      now += milliseconds(100);
      autoscaler.record(now, c.concurrency);
    }
    const auto decision = autoscaler.decide(now, 3, 0);
    EXPECT_EQ(decision.desired, c.expected) << "concurrency " << c.concurrency;
    EXPECT_EQ(decision.mode, ScaleMode::stable);
    EXPECT_DOUBLE_EQ(decision.observed_concurrency, c.concurrency);
  }
}

TEST(Autoscaler, FractionalTargetsWork) {
  auto s = settings(0.5, 0, 20, seconds(4), seconds(2));
  Autoscaler autoscaler(s, 4, milliseconds(0));
  milliseconds now(0);
  for (int i = 0; i < 50; ++i) autoscaler.record(now += milliseconds(100), 2.2);
  EXPECT_EQ(autoscaler.decide(now, 4, 0).desired, 5u);  // ceil(2.2 / 0.5)
}

TEST(Autoscaler, ClampsToMinAndMax) {
  const auto s = settings(1, 2, 4, seconds(3), seconds(1));
  // Heavy load: capped at max even in panic; no load: floor at min.
  const auto heavy = replay(s, 2, {{5, 100}}, true);
  for (const auto& decision : heavy.decisions) EXPECT_LE(decision.desired, 4u);
  EXPECT_EQ(heavy.decisions.back().desired, 4u);
  const auto idle = replay(s, 4, {{10, 0}}, true);
  EXPECT_EQ(idle.decisions.back().desired, 2u);
}

TEST(Autoscaler, SteadyLoadSettlesOnCeilOfLoadOverTarget) {
  // 35 in flight against target 10, starting from 3 backends: 35 < 2 x 30, no panic.
  const auto result = replay(settings(10, 1, 20, seconds(6), seconds(2)), 3, {{8, 35}}, true);
  EXPECT_EQ(result.desired, "4 4 4 4 4 4 4 4");
}

TEST(Autoscaler, ABurstPanicsAndScalesUpAtOnce) {
  // One backend, target 10; the load jumps to 45: the panic window sees 4.5x
  // capacity on its first decision.
  const auto result = replay(settings(10, 1, 20, seconds(6), seconds(2)), 1, {{1, 5}, {2, 45}}, false);
  EXPECT_EQ(result.desired, "1 3P 5P");
  EXPECT_EQ(result.decisions[1].mode, ScaleMode::panic);
  // Panic reports the panic window's average: one bucket of 5, one of 45.
  EXPECT_DOUBLE_EQ(result.decisions[1].observed_concurrency, 25);
}

TEST(Autoscaler, PanicNeverScalesDownAndEndsAStableWindowAfterTheLastOverload) {
  // 6 s stable window, 2 s panic window, target 10, pool stays at 1 backend
  // (the listener is slow): a 3 s burst of 60, then nothing.
  const auto result = replay(settings(10, 1, 20, seconds(6), seconds(2)), 1, {{3, 60}, {10, 0}}, false);
  // Panic from the first second; while in panic desired holds at its peak even
  // though the load is gone; the last overloaded decision is the fourth (its
  // panic window still holds a second of 60), so panic ends six decisions
  // later, and the stable window, by then free of the burst, asks for the minimum.
  EXPECT_EQ(result.desired, "6P 6P 6P 6P 6P 6P 6P 6P 6P 1 1 1 1");
}

TEST(Autoscaler, PanicKeepsRaisingWhileTheBurstGrows) {
  const auto result =
      replay(settings(10, 1, 50, seconds(10), seconds(2)), 1, {{2, 30}, {2, 60}, {2, 90}}, false);
  EXPECT_EQ(result.desired, "3P 3P 5P 6P 8P 9P");
}

TEST(Autoscaler, ALoadUnderTwiceCapacityDoesNotPanic) {
  // 4 backends of target 10: panic needs a panic-window average of 80.
  const auto result = replay(settings(10, 1, 20, seconds(6), seconds(2)), 4, {{4, 79}}, false);
  for (const auto& decision : result.decisions) EXPECT_EQ(decision.mode, ScaleMode::stable);
  EXPECT_EQ(result.decisions.back().desired, 8u);
}

TEST(Autoscaler, ScaleDownWaitsForAWholeStableWindowOfSamples) {
  // Starts with 5 backends and no load: decisions before 6 s hold at 5 (the
  // stable window is not yet covered), then the stable window agrees on the minimum.
  const auto result = replay(settings(10, 1, 20, seconds(6), seconds(2)), 5, {{8, 0}}, false);
  EXPECT_EQ(result.desired, "5 5 5 5 5 5 1 1");
}

TEST(Autoscaler, ScaleDownFollowsTheStableAverageNotThePanicWindow) {
  // 40 in flight for 8 s on 4 backends, then 0: the stable average decays
  // over 6 s; desired steps down with it, never faster.
  const auto result = replay(settings(10, 1, 20, seconds(6), seconds(2)), 4, {{8, 40}, {7, 0}}, true);
  EXPECT_EQ(result.desired, "4 4 4 4 4 4 4 4 4 3 2 2 1 1 1");
}

TEST(Autoscaler, ScalesToZeroAndBackFromZero) {
  const auto s = settings(10, 0, 5, seconds(4), seconds(2));
  Autoscaler autoscaler(s, 1, milliseconds(0));
  milliseconds now(0);
  for (int i = 0; i < 50; ++i) autoscaler.record(now += milliseconds(100), 0);
  EXPECT_EQ(autoscaler.decide(now, 1, 0).desired, 0u);
  // A request arrives at an empty pool: one backend is asked for at once,
  // before any sample shows it.
  const auto decision = autoscaler.decide(now += milliseconds(100), 0, 1);
  EXPECT_EQ(decision.desired, 1u);
  // The waiting request, sampled, is a panic on an empty pool (capacity 1 x 10
  // is the floor): 25 waiting asks for 3.
  for (int i = 0; i < 10; ++i) autoscaler.record(now += milliseconds(100), 25);
  const auto burst = autoscaler.decide(now, 0, 25);
  EXPECT_EQ(burst.mode, ScaleMode::panic);
  EXPECT_EQ(burst.desired, 3u);
}

TEST(Autoscaler, WaitingRequestsNeedNoBackendWhenThereIsOne) {
  // The scale-from-zero bump is for an empty pool only.
  const auto s = settings(10, 0, 5, seconds(4), seconds(2));
  Autoscaler autoscaler(s, 0, milliseconds(0));
  EXPECT_EQ(autoscaler.decide(milliseconds(100), 0, 0).desired, 0u);
  EXPECT_EQ(autoscaler.decide(milliseconds(200), 0, 2).desired, 1u);
}

TEST(Autoscaler, OldSamplesLeaveTheWindow) {
  // The ring of buckets is reused: a burst 30 s ago is not in a 6 s window.
  auto s = settings(10, 1, 20, seconds(6), seconds(2));
  Autoscaler autoscaler(s, 8, milliseconds(0));
  milliseconds now(0);
  for (int i = 0; i < 30; ++i) autoscaler.record(now += milliseconds(100), 80);
  for (int i = 0; i < 300; ++i) autoscaler.record(now += milliseconds(100), 10);
  const auto decision = autoscaler.decide(now, 8, 0);
  EXPECT_DOUBLE_EQ(decision.observed_concurrency, 10);
  EXPECT_EQ(decision.desired, 1u);
}

TEST(Autoscaler, GapsWithoutSamplesCountAsNoData) {
  auto s = settings(10, 1, 20, seconds(6), seconds(2));
  Autoscaler autoscaler(s, 2, milliseconds(0));
  autoscaler.record(milliseconds(500), 20);
  // 10 s later nothing is in either window: average 0, stable mode.
  const auto decision = autoscaler.decide(milliseconds(10'500), 2, 0);
  EXPECT_DOUBLE_EQ(decision.observed_concurrency, 0);
  EXPECT_EQ(decision.desired, 1u);
}

TEST(Autoscaler, RecordedStepLoadGrowsThenShrinksBackToMin) {
  // The end-to-end scenario of tests/e2e: min 1, target 2, stable 6 s, panic
  // 2 s; a load step of 8 in flight for 10 s with a listener that follows,
  // then nothing. Up in panic, hold, back to min once the stable window is
  // free of the load.
  const auto result = replay(settings(2, 1, 4, seconds(6), seconds(2)), 1, {{10, 8}, {14, 0}}, true);
  // Only the first decision is over the threshold (8 >= 2 x 1 x 2); with 4
  // backends 8 is not, so panic ends 6 s later. Once the load stops, the
  // stable average falls by 8/6 a second: 6.7, 5.3, 4, 2.7, 1.3, 0.
  EXPECT_EQ(result.desired,
            "4P 4P 4P 4P 4P 4P 4 4 4 4 "
            "4 3 2 2 1 1 1 1 1 1 1 1 1 1");
}

TEST(Autoscaler, ModeNames) {
  EXPECT_STREQ(to_string(ScaleMode::stable), "stable");
  EXPECT_STREQ(to_string(ScaleMode::panic), "panic");
}

}  // namespace
}  // namespace keel::balancer
