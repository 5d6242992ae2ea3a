#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "health/checker.hpp"
#include "tests/unit/health/checker_fakes.hpp"

namespace keel::health {
namespace {

using namespace std::chrono_literals;
using namespace fakes;

TEST(Checker, FirstResultDecidesFromUnknown) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("P"));
  rig.prober.set_behaviour(2, scripted("F"));
  rig.checker.set_targets("web", kDefaults, targets({1, 2}));
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
  EXPECT_EQ(rig.checker.health(2), Health::unknown);
  EXPECT_TRUE(rig.prober.calls.empty());

  rig.scheduler.advance(500ms + 10ms);  // every first probe started and completed
  ASSERT_EQ(rig.prober.calls.size(), 2u);
  EXPECT_EQ(rig.checker.health(1), Health::healthy);
  EXPECT_EQ(rig.checker.health(2), Health::unhealthy);
  EXPECT_EQ(rig.healths_of(1), std::vector<Health>{Health::healthy});
  EXPECT_EQ(rig.healths_of(2), std::vector<Health>{Health::unhealthy});
  for (const auto& change : rig.changes)
    EXPECT_EQ(change.detail, change.id == 1 ? "status 200" : "status 500");

  // No change, no report.
  rig.scheduler.advance(10 * kDefaults.interval);
  EXPECT_EQ(rig.changes.size(), 2u);
}

TEST(Checker, ReportsTheFirstPassAsSoonAsItCompletes) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("H"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(500ms);
  ASSERT_EQ(rig.prober.calls.size(), 1u);
  EXPECT_TRUE(rig.changes.empty());
  ASSERT_TRUE(rig.prober.complete(1, {true, "status 204"}));
  ASSERT_EQ(rig.changes.size(), 1u);
  EXPECT_EQ(rig.changes[0].health, Health::healthy);
  EXPECT_EQ(rig.changes[0].detail, "status 204");
  EXPECT_EQ(rig.changes[0].at, rig.scheduler.now());
}

TEST(Checker, RecoversAfterHealthyThresholdPasses) {
  Rig rig;
  // healthy (first), failures to unhealthy, one pass (not enough), a failure
  // (resets), then two passes.
  rig.prober.set_behaviour(1, scripted("PFFFPFPP"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  std::string seen;
  for (int probe = 0; probe < 8; ++probe) {
    // Each step runs exactly one more probe to completion.
    while (rig.prober.completions.size() == static_cast<std::size_t>(probe))
      rig.scheduler.advance(1ms);
    seen += "?HU"[static_cast<int>(rig.checker.health(1))];
  }
  EXPECT_EQ(seen, "HHHUUUUH");
  EXPECT_EQ(rig.healths_of(1),
            (std::vector<Health>{Health::healthy, Health::unhealthy, Health::healthy}));
}

TEST(Checker, UnhealthyFromTheStartRecoversAfterThreshold) {
  Rig rig;
  CheckSettings settings;
  settings.healthy_threshold = 3;
  rig.prober.set_behaviour(1, scripted("FPPP"));
  rig.checker.set_targets("web", settings, targets({1}));
  rig.scheduler.advance(500ms + 10ms);
  EXPECT_EQ(rig.checker.health(1), Health::unhealthy);
  rig.scheduler.advance(2 * 2200ms);  // two more probes at most
  EXPECT_EQ(rig.checker.health(1), Health::unhealthy);
  rig.scheduler.advance(2200ms);
  EXPECT_EQ(rig.checker.health(1), Health::healthy);
  EXPECT_EQ(rig.prober.calls.size(), 4u);
}

TEST(Checker, CompletionBeforeProbeReturnsIsFine) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("SSF"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(500ms);
  EXPECT_EQ(rig.checker.health(1), Health::healthy);
  rig.scheduler.advance(3 * 2200ms);
  EXPECT_EQ(rig.prober.calls.size(), 4u);
  EXPECT_EQ(rig.prober.overlaps, 0);
}

TEST(Checker, RemovedTargetsCallbacksAreNoOps) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("H"));
  rig.checker.set_targets("web", kDefaults, targets({1, 2}));
  rig.scheduler.advance(500ms);
  ASSERT_EQ(rig.prober.calls_for(1).size(), 1u);  // 1 is being probed

  rig.checker.set_targets("web", kDefaults, targets({2}));
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
  // The running probe completes after the removal: nothing happens.
  ASSERT_TRUE(rig.prober.complete(1, {false, "status 500"}));
  EXPECT_TRUE(rig.healths_of(1).empty());
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
  // Its pending timer fires: nothing happens either.
  rig.scheduler.advance(10 * kDefaults.interval);
  EXPECT_EQ(rig.prober.calls_for(1).size(), 1u);
  EXPECT_GE(rig.prober.calls_for(2).size(), 9u);  // the other target goes on
}

TEST(Checker, ReAddedTargetIgnoresItsPreviousIncarnation) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("HP"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(500ms);
  ASSERT_EQ(rig.prober.calls.size(), 1u);

  rig.checker.set_targets("web", kDefaults, {});
  rig.checker.set_targets("web", kDefaults, targets({1}));  // same id, a new target
  // The old probe's result must not count for the new target.
  ASSERT_TRUE(rig.prober.complete(1, {false, "status 500"}));
  EXPECT_TRUE(rig.changes.empty());
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
  // The new one is probed on its own schedule: first within 500ms, then interval.
  rig.scheduler.advance(510ms);
  ASSERT_EQ(rig.prober.calls.size(), 2u);
  EXPECT_EQ(rig.checker.health(1), Health::healthy);
  rig.scheduler.advance(kDefaults.interval * 11 / 10);
  EXPECT_EQ(rig.prober.calls.size(), 3u);
}

TEST(Checker, PendingFirstProbeOfARemovedTargetNeverRuns) {
  Rig rig;
  rig.checker.set_targets("web", kDefaults, targets({1, 2, 3}));
  rig.checker.set_targets("web", kDefaults, {});
  rig.scheduler.advance(10 * kDefaults.interval);
  EXPECT_TRUE(rig.prober.calls.empty());
}

TEST(Checker, RemovePoolForgetsOnlyThatPool) {
  Rig rig;
  rig.checker.set_targets("web", kDefaults, targets({1, 2}));
  rig.checker.set_targets("api", kDefaults, targets({3}));
  rig.scheduler.advance(510ms);
  ASSERT_EQ(rig.checker.health(1), Health::healthy);
  ASSERT_EQ(rig.checker.health(3), Health::healthy);

  rig.checker.remove_pool("web");
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
  EXPECT_EQ(rig.checker.health(2), Health::unknown);
  EXPECT_EQ(rig.checker.health(3), Health::healthy);
  const auto before = rig.prober.calls.size();
  rig.scheduler.advance(10 * kDefaults.interval);
  EXPECT_EQ(rig.prober.calls_for(1).size() + rig.prober.calls_for(2).size(), 2u);
  EXPECT_GE(rig.prober.calls.size() - before, 9u);  // pool api goes on
}

TEST(Checker, SetTargetsKeepsTheStateAndScheduleOfKeptTargets) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("F"));
  rig.checker.set_targets("web", kDefaults, targets({1, 2}));
  rig.scheduler.advance(3s);
  ASSERT_EQ(rig.checker.health(1), Health::unhealthy);
  ASSERT_EQ(rig.checker.health(2), Health::healthy);
  ASSERT_EQ(rig.changes.size(), 2u);

  rig.checker.set_targets("web", kDefaults, targets({1, 2, 3}));
  rig.checker.set_targets("web", kDefaults, targets({2, 3, 1}));  // order does not matter
  EXPECT_EQ(rig.checker.health(1), Health::unhealthy);
  EXPECT_EQ(rig.checker.health(2), Health::healthy);
  EXPECT_EQ(rig.checker.health(3), Health::unknown);
  rig.scheduler.advance(510ms);
  EXPECT_EQ(rig.checker.health(3), Health::healthy);
  EXPECT_EQ(rig.changes.size(), 3u);  // only 3's first result: nothing else changed
  rig.scheduler.advance(10s);
  // The kept targets were not probed again early: their schedule went on.
  for (const std::uint64_t id : {1, 2}) {
    const auto calls = rig.prober.calls_for(id);
    for (std::size_t i = 1; i < calls.size(); ++i)
      EXPECT_GE(calls[i].start - calls[i - 1].start, kDefaults.interval * 9 / 10) << id;
  }
  EXPECT_EQ(rig.prober.overlaps, 0);
}

TEST(Checker, AnIdMovesBetweenPoolsWithItsState) {
  Rig rig;
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(510ms);
  ASSERT_EQ(rig.checker.health(1), Health::healthy);
  rig.checker.set_targets("api", kDefaults, targets({1}));
  rig.checker.set_targets("web", kDefaults, {});  // no longer web's: stays
  EXPECT_EQ(rig.checker.health(1), Health::healthy);
  rig.checker.remove_pool("api");
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
}

TEST(Checker, ChangedSettingsApplyFromTheNextProbe) {
  Rig rig;
  CheckSettings first;
  first.path = "/a";
  rig.prober.set_behaviour(1, scripted("P"));
  rig.checker.set_targets("web", first, targets({1}));
  rig.scheduler.advance(510ms);
  ASSERT_EQ(rig.checker.health(1), Health::healthy);
  ASSERT_EQ(rig.prober.calls.size(), 1u);

  CheckSettings second = first;
  second.path = "/b";
  second.timeout = 500ms;
  second.expect_min = 204;
  second.expect_max = 204;
  rig.checker.set_targets("web", second, targets({1}));
  EXPECT_EQ(rig.checker.health(1), Health::healthy);  // state kept
  rig.scheduler.advance(first.interval * 11 / 10);
  ASSERT_EQ(rig.prober.calls.size(), 2u);  // the schedule was kept too
  EXPECT_EQ(rig.prober.calls[0].settings, first);
  EXPECT_EQ(rig.prober.calls[1].settings, second);
}

TEST(Checker, ChangedThresholdsKeepTheHealth) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("PF"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(510ms);
  ASSERT_EQ(rig.checker.health(1), Health::healthy);

  CheckSettings strict = kDefaults;
  strict.unhealthy_threshold = 1;
  rig.checker.set_targets("web", strict, targets({1}));
  EXPECT_EQ(rig.checker.health(1), Health::healthy);
  rig.scheduler.advance(2200ms);  // one failure now suffices
  EXPECT_EQ(rig.checker.health(1), Health::unhealthy);
  EXPECT_EQ(rig.prober.calls.size(), 2u);
}

TEST(Checker, StopStopsEverything) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("H"));
  rig.checker.set_targets("web", kDefaults, targets({1, 2, 3}));
  rig.checker.set_targets("api", kDefaults, targets({4}));
  rig.scheduler.advance(500ms);
  const auto calls = rig.prober.calls.size();
  const auto changes = rig.changes.size();
  ASSERT_GT(calls, 0u);

  rig.checker.stop();
  for (std::uint64_t id = 1; id <= 4; ++id) EXPECT_EQ(rig.checker.health(id), Health::unknown);
  ASSERT_TRUE(rig.prober.complete(1, {true, "status 200"}));
  rig.scheduler.advance(100 * kDefaults.interval);
  EXPECT_EQ(rig.prober.calls.size(), calls);
  EXPECT_EQ(rig.changes.size(), changes);
  EXPECT_EQ(rig.scheduler.pending(), 0u);

  rig.checker.set_targets("web", kDefaults, targets({5}));  // final: ignored
  rig.scheduler.advance(10 * kDefaults.interval);
  EXPECT_EQ(rig.prober.calls.size(), calls);
}

TEST(Checker, CallbacksAfterTheCheckerIsGoneAreNoOps) {
  ManualScheduler scheduler;
  FakeProber prober{scheduler};
  int changes = 0;
  prober.set_behaviour(1, scripted("H"));
  {
    Checker checker(prober, scheduler, [&](std::uint64_t, Health, const std::string&) { ++changes; },
                    1);
    checker.set_targets("web", kDefaults, targets({1, 2}));
    scheduler.advance(510ms);
  }
  ASSERT_TRUE(prober.complete(1, {true, "status 200"}));
  scheduler.advance(10 * kDefaults.interval);
  EXPECT_EQ(prober.calls.size(), 2u);
  EXPECT_EQ(changes, 1);  // target 2's first pass, before the checker went away
}

TEST(Checker, OnChangeMayChangeTheTargets) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("F"));
  rig.on_change = [&](std::uint64_t id, Health health) {
    if (health == Health::unhealthy) rig.checker.set_targets("web", kDefaults, {});
    (void)id;
  };
  rig.checker.set_targets("web", kDefaults, targets({1, 2}));
  rig.scheduler.advance(10 * kDefaults.interval);
  EXPECT_EQ(rig.checker.health(1), Health::unknown);
  EXPECT_EQ(rig.checker.health(2), Health::unknown);
  EXPECT_EQ(rig.prober.calls_for(1).size(), 1u);
}

TEST(Checker, PassesTheTargetToTheProber) {
  Rig rig;
  rig.checker.set_targets("web", kDefaults, {{7, "[::1]:8081"}});
  rig.scheduler.advance(500ms);
  ASSERT_EQ(rig.prober.calls.size(), 1u);
  EXPECT_EQ(rig.prober.calls[0].id, 7u);
  EXPECT_EQ(rig.prober.calls[0].address, "[::1]:8081");
  EXPECT_EQ(rig.prober.calls[0].settings, kDefaults);
}

TEST(CheckSettings, ExpectedStatusRangeIsInclusive) {
  CheckSettings settings;
  EXPECT_FALSE(settings.is_expected_status(199));
  EXPECT_TRUE(settings.is_expected_status(200));
  EXPECT_TRUE(settings.is_expected_status(399));
  EXPECT_FALSE(settings.is_expected_status(400));
  settings.expect_min = settings.expect_max = 204;
  EXPECT_TRUE(settings.is_expected_status(204));
  EXPECT_FALSE(settings.is_expected_status(200));
}

TEST(Checker, ReportsTheLastCheckWithItsTimeLatencyAndRun) {
  Rig rig;
  rig.prober.set_latency(7ms);
  rig.prober.set_behaviour(1, scripted("PPFFFP"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  EXPECT_EQ(rig.checker.last_check(1), std::nullopt);  // nothing completed yet
  EXPECT_EQ(rig.checker.last_check(2), std::nullopt);  // not checked at all

  std::string seen;
  for (std::size_t probe = 0; probe < 6; ++probe) {
    while (rig.prober.completions.size() == probe) rig.scheduler.advance(1ms);
    const auto report = rig.checker.last_check(1);
    ASSERT_TRUE(report) << "probe " << probe;
    EXPECT_EQ(report->at, rig.prober.completions.back().second);
    EXPECT_EQ(report->latency, 7ms);
    EXPECT_EQ(report->detail, report->passed ? "status 200" : "status 500");
    seen += (report->passed ? "P" : "F") + std::to_string(report->consecutive) + " ";
  }
  EXPECT_EQ(seen, "P1 P2 F1 F2 F3 P1 ");
}

TEST(Checker, LastCheckIsKeptWithTheTargetAndForgottenWithIt) {
  Rig rig;
  rig.prober.set_behaviour(1, scripted("T"));
  rig.checker.set_targets("web", kDefaults, targets({1}));
  rig.scheduler.advance(500ms + kDefaults.timeout);
  auto report = rig.checker.last_check(1);
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->passed);
  EXPECT_EQ(report->latency, kDefaults.timeout);

  rig.checker.set_targets("web", kDefaults, targets({1, 2}));  // 1 kept
  EXPECT_EQ(rig.checker.last_check(1)->at, report->at);
  rig.checker.set_targets("web", kDefaults, targets({2}));
  EXPECT_EQ(rig.checker.last_check(1), std::nullopt);
}

}  // namespace
}  // namespace keel::health
