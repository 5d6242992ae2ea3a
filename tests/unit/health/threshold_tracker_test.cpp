#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "health/health_state.hpp"

namespace keel::health {
namespace {

TEST(Health, Names) {
  EXPECT_STREQ(to_string(Health::unknown), "unknown");
  EXPECT_STREQ(to_string(Health::healthy), "healthy");
  EXPECT_STREQ(to_string(Health::unhealthy), "unhealthy");
}

char code(std::optional<Health> health) {
  if (!health) return '.';
  switch (*health) {
    case Health::unknown:
      return '?';
    case Health::healthy:
      return 'H';
    case Health::unhealthy:
      return 'U';
  }
  return '!';
}

struct ThresholdCase {
  const char* name;
  std::uint32_t healthy_threshold;
  std::uint32_t unhealthy_threshold;
  Health initial;
  std::string results;      // P = pass, F = failure
  std::string transitions;  // what each record() returns: '.' nothing, H, U
};

TEST(ThresholdTracker, Transitions) {
  using enum Health;
  const std::vector<ThresholdCase> cases = {
      {"first pass decides from unknown", 1, 3, unknown, "P", "H"},
      {"first failure decides from unknown", 3, 1, unknown, "F", "U"},
      {"first pass decides whatever the threshold", 5, 5, unknown, "P", "H"},
      {"first failure decides whatever the threshold", 5, 5, unknown, "F", "U"},
      {"no repeat report once healthy", 2, 3, unknown, "PPPPP", "H...."},
      {"no repeat report once unhealthy", 2, 3, unknown, "FFFFF", "U...."},
      {"after the first pass failures need the threshold", 3, 2, unknown, "PPFF", "H..U"},
      {"after the first failure passes need the threshold", 2, 2, unknown, "FPFPP", "U...H"},
      {"alternating after the first result never flips", 2, 2, unknown, "PFPFPFPF",
       "H......."},
      {"healthy stays healthy on passes", 2, 2, healthy, "PPPP", "...."},
      {"unhealthy stays unhealthy on failures", 2, 2, unhealthy, "FFFF", "...."},
      {"healthy needs the failure threshold", 2, 3, healthy, "FFF", "..U"},
      {"unhealthy needs the pass threshold", 2, 3, unhealthy, "PP", ".H"},
      {"a pass resets the failure run", 2, 3, healthy, "FFPFFF", ".....U"},
      {"a failure resets the pass run", 3, 2, unhealthy, "PPFPPP", ".....H"},
      {"back and forth", 2, 2, healthy, "FFPPFF", ".U.H.U"},
      {"recovery counts passes only after the last failure", 2, 3, unhealthy, "PFFFPP",
       ".....H"},
      {"fresh run after becoming unhealthy", 1, 3, healthy, "FFFFP", "..U.H"},
      {"zero thresholds act as one", 0, 0, unknown, "PFPPF", "HUH.U"},
      {"zero healthy threshold acts as one", 0, 2, unhealthy, "P", "H"},
      {"zero unhealthy threshold acts as one", 2, 0, healthy, "F", "U"},
      {"threshold 1 follows every change", 1, 1, unknown, "PFFPF", "HU.HU"},
      {"long thresholds", 5, 4, unknown, "PPPPFPPPPPFFFFPFFF", "H............U...."},
      {"long thresholds from a failure", 5, 4, unknown, "FPPPPFPPPPPFFF", "U.........H..."},
  };
  for (const auto& c : cases) {
    ThresholdTracker tracker(c.healthy_threshold, c.unhealthy_threshold, c.initial);
    ASSERT_EQ(tracker.state(), c.initial) << c.name;
    ASSERT_EQ(c.results.size(), c.transitions.size()) << c.name;
    std::string seen;
    Health expected_state = c.initial;
    for (std::size_t i = 0; i < c.results.size(); ++i) {
      const auto changed = tracker.record(c.results[i] == 'P');
      seen += code(changed);
      if (changed) {
        EXPECT_NE(*changed, expected_state) << c.name << ": reported a change to the same state";
        expected_state = *changed;
      }
      EXPECT_EQ(tracker.state(), expected_state) << c.name << " after result " << i;
    }
    EXPECT_EQ(seen, c.transitions) << c.name;
  }
}

TEST(ThresholdTracker, StartsUnknownByDefault) {
  ThresholdTracker tracker(2, 3);
  EXPECT_EQ(tracker.state(), Health::unknown);
}

// A newly added backend must get traffic right after its first passing check.
TEST(ThresholdTracker, NewBackendIsHealthyAfterOnePass) {
  ThresholdTracker tracker(2, 3);
  EXPECT_EQ(tracker.record(true), Health::healthy);
  EXPECT_EQ(tracker.state(), Health::healthy);
}

// A long streak of passes does not make the next failure run any shorter.
TEST(ThresholdTracker, LongStreakThenFlip) {
  ThresholdTracker tracker(3, 3, Health::healthy);
  for (int i = 0; i < 100'000; ++i) ASSERT_EQ(tracker.record(true), std::nullopt);
  EXPECT_EQ(tracker.record(false), std::nullopt);
  EXPECT_EQ(tracker.record(false), std::nullopt);
  EXPECT_EQ(tracker.record(false), Health::unhealthy);
}

}  // namespace
}  // namespace keel::health
