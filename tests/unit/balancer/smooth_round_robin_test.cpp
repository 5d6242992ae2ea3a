#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "balancer/selection.hpp"
#include "tests/unit/balancer/selection_test_support.hpp"

namespace keel::balancer {
namespace {

using test_support::letter;
using test_support::total_weight;
using test_support::weighted;
using test_support::within_one_percent;

std::string picks(const std::vector<Candidate>& pool, std::vector<std::int64_t>& current,
                  std::size_t count, Exclusion exclude = {}) {
  std::string order;
  for (std::size_t i = 0; i < count; ++i) {
    const auto picked = pick_smooth_round_robin(pool, current, exclude);
    order += picked ? letter(*picked) : '-';
  }
  return order;
}

TEST(SmoothRoundRobin, InterleavesInsteadOfBursting) {
  const auto pool = weighted({5, 1, 1});
  std::vector<std::int64_t> current(pool.size());
  EXPECT_EQ(picks(pool, current, 7), "aabacaa");
}

struct CycleCase {
  std::vector<Candidate> pool;
  std::string first_cycle;
};

TEST(SmoothRoundRobin, FirstCycleOrder) {
  const std::vector<CycleCase> cases = {
      {weighted({1}), "a"},
      {weighted({1, 1}), "ab"},
      {weighted({3, 1}), "aaba"},
      {weighted({2, 3}), "babab"},
      {weighted({5, 1, 1}), "aabacaa"},
      {weighted({4, 4, 1}), "ababcabab"},
      {weighted({1, 1, 1, 1, 1}), "abcde"},
      {weighted({10, 3, 2, 1}), "abaacadabaaacaba"},
  };
  for (const auto& c : cases) {
    std::vector<std::int64_t> current(c.pool.size());
    EXPECT_EQ(picks(c.pool, current, c.first_cycle.size()), c.first_cycle);
  }
}

// Each cycle of `total weight` picks gives every candidate exactly its weight and
// leaves the state where it started, so the order repeats forever.
TEST(SmoothRoundRobin, EveryCycleIsExactAndRestoresTheState) {
  const std::vector<std::vector<Candidate>> pools = {
      weighted({1, 1}),        weighted({3, 1}),   weighted({5, 1, 1}),
      weighted({10, 3, 2, 1}), weighted({100, 1}), weighted({7, 5, 3, 2, 1}),
  };
  for (const auto& pool : pools) {
    std::vector<std::int64_t> current(pool.size());
    const std::string first = picks(pool, current, total_weight(pool));
    for (std::size_t i = 0; i < pool.size(); ++i)
      EXPECT_EQ(static_cast<std::uint64_t>(std::count(first.begin(), first.end(), letter(i))),
                pool[i].weight)
          << first;
    EXPECT_EQ(current, std::vector<std::int64_t>(pool.size(), 0));
    EXPECT_EQ(picks(pool, current, total_weight(pool)), first);
  }
}

TEST(SmoothRoundRobin, DistributionFollowsWeightsWithinOnePercent) {
  const std::vector<std::vector<Candidate>> pools = {
      weighted({1, 1}),          weighted({3, 1}),
      weighted({5, 1, 1}),       weighted({10, 3, 2, 1}),
      weighted({100, 1}),        weighted({1, 100}),
      weighted({7, 5, 3, 2, 1}), weighted({1, 1, 1, 1, 1, 1, 1}),
      weighted({997, 3}),
  };
  constexpr std::uint64_t kPicks = 10'000;
  for (const auto& pool : pools) {
    std::vector<std::int64_t> current(pool.size());
    std::vector<std::uint64_t> counts(pool.size());
    for (std::uint64_t i = 0; i < kPicks; ++i) ++counts[*pick_smooth_round_robin(pool, current)];
    for (std::size_t i = 0; i < pool.size(); ++i) {
      EXPECT_TRUE(within_one_percent(counts[i], kPicks, pool[i].weight, total_weight(pool)))
          << "candidate " << i << " got " << counts[i] << " of " << kPicks;
    }
  }
}

std::vector<std::size_t> longest_runs(const std::string& order, std::size_t candidates) {
  std::vector<std::size_t> longest(candidates);
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = start;
    while (end < order.size() && order[end] == order[start]) ++end;
    auto& run = longest[static_cast<std::size_t>(order[start] - 'a')];
    run = std::max(run, end - start);
    start = end;
  }
  return longest;
}

struct BurstCase {
  std::vector<Candidate> pool;
  std::vector<std::size_t> longest_run;  // over many cycles, so across cycle boundaries too
};

// Plain weighted round-robin sends `weight` requests in a row to a backend;
// smooth interleaving keeps runs near weight / (sum of the other weights).
TEST(SmoothRoundRobin, LongestBurstPerCandidate) {
  const std::vector<BurstCase> cases = {
      {weighted({1, 1}), {1, 1}},
      {weighted({3, 1}), {3, 1}},
      {weighted({2, 3}), {1, 2}},
      {weighted({5, 1, 1}), {4, 1, 1}},
      {weighted({4, 4, 1}), {1, 1, 1}},
      {weighted({10, 3, 2, 1}), {3, 1, 1, 1}},
      {weighted({100, 1}), {100, 1}},
  };
  for (const auto& c : cases) {
    std::vector<std::int64_t> current(c.pool.size());
    const std::string order = picks(c.pool, current, 10 * total_weight(c.pool));
    EXPECT_EQ(longest_runs(order, c.pool.size()), c.longest_run) << order.substr(0, 40);
  }
}

// Over seeded random weight sets, a run of candidate i stays shorter than
// 2W / (W - w_i), W being the total weight: the others' growing credit cuts it
// short. Plain weighted round-robin would allow runs of w_i.
TEST(SmoothRoundRobin, BurstsAreBoundedForSeededRandomWeights) {
  std::mt19937 rng(20240611);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t size = 2 + rng() % 7;
    std::vector<Candidate> pool(size);
    for (auto& candidate : pool) candidate.weight = 1 + rng() % (trial % 2 ? 10 : 300);
    const std::uint64_t total = total_weight(pool);
    std::vector<std::int64_t> current(size);
    const auto runs = longest_runs(picks(pool, current, 3 * total), size);
    for (std::size_t i = 0; i < size; ++i)
      EXPECT_LT(runs[i] * (total - pool[i].weight), 2 * total) << "trial " << trial;
  }
}

TEST(SmoothRoundRobin, EmptyPoolPicksNothing) {
  std::vector<std::int64_t> current;
  EXPECT_EQ(pick_smooth_round_robin({}, current), std::nullopt);
}

TEST(SmoothRoundRobin, NothingEligiblePicksNothingAndKeepsState) {
  const std::vector<std::vector<Candidate>> pools = {
      {{.weight = 1, .eligible = false}},
      {{.weight = 5, .eligible = false}, {.weight = 1, .eligible = false}},
      {{.weight = 0}, {.weight = 0}},
      {{.weight = 0}, {.weight = 3, .eligible = false}},
  };
  for (const auto& pool : pools) {
    std::vector<std::int64_t> current(pool.size(), 7);
    EXPECT_EQ(pick_smooth_round_robin(pool, current), std::nullopt);
    EXPECT_EQ(current, std::vector<std::int64_t>(pool.size(), 7));
  }
}

TEST(SmoothRoundRobin, IneligibleAndZeroWeightAreNeverPicked) {
  const std::vector<Candidate> pool = {
      {.weight = 2}, {.weight = 9, .eligible = false}, {.weight = 0}, {.weight = 1}};
  std::vector<std::int64_t> current(pool.size());
  const std::string order = picks(pool, current, 3000);
  EXPECT_EQ(order.substr(0, 6), "adaada");
  EXPECT_EQ(std::count(order.begin(), order.end(), 'a'), 2000);
  EXPECT_EQ(std::count(order.begin(), order.end(), 'd'), 1000);
  EXPECT_EQ(current[1], 0);
  EXPECT_EQ(current[2], 0);
}

TEST(SmoothRoundRobin, SingleCandidateAlwaysWins) {
  const auto pool = weighted({42});
  std::vector<std::int64_t> current(1);
  EXPECT_EQ(picks(pool, current, 5), "aaaaa");
  EXPECT_EQ(current[0], 0);
}

TEST(SmoothRoundRobin, LargestWeightsDoNotOverflow) {
  constexpr auto kMax = std::numeric_limits<std::uint32_t>::max();
  const auto pool = weighted({kMax, kMax, kMax, kMax - 1});
  std::vector<std::int64_t> current(pool.size());
  EXPECT_EQ(picks(pool, current, 8), "abcdabcd");
}

struct RetryCase {
  std::vector<Candidate> pool;
  std::string tries;  // one request: pick, then retry excluding everything tried
};

TEST(SmoothRoundRobin, RetrySkipsTriedCandidatesUntilNoneAreLeft) {
  const std::vector<RetryCase> cases = {
      {weighted({1}), "a-"},
      {weighted({1, 1}), "ab-"},
      {weighted({5, 1, 1}), "abc-"},
      {{{.weight = 1}, {.weight = 1, .eligible = false}, {.weight = 1}}, "ac-"},
      {{{.weight = 1, .eligible = false}}, "-"},
  };
  for (const auto& c : cases) {
    std::vector<std::int64_t> current(c.pool.size());
    std::vector<std::size_t> tried;
    std::string order;
    for (std::size_t attempt = 0; attempt < c.tries.size(); ++attempt) {
      const auto picked = pick_smooth_round_robin(c.pool, current, tried);
      order += picked ? letter(*picked) : '-';
      if (picked) tried.push_back(*picked);
    }
    EXPECT_EQ(order, c.tries);
  }
}

TEST(SmoothRoundRobin, ExcludedCandidatesKeepTheirState) {
  const auto pool = weighted({1, 1, 1});
  std::vector<std::int64_t> current = {3, -2, -1};
  const std::vector<std::size_t> tried = {0};
  EXPECT_EQ(pick_smooth_round_robin(pool, current, tried), 2);
  EXPECT_EQ(current, (std::vector<std::int64_t>{3, -1, -2}));
}

TEST(SmoothRoundRobin, ExclusionToleratesDuplicatesAndUnknownIndices) {
  const auto pool = weighted({1, 1});
  std::vector<std::int64_t> current(pool.size());
  const std::vector<std::size_t> tried = {0, 0, 7, 99};
  EXPECT_EQ(picks(pool, current, 3, tried), "bbb");
  const std::vector<std::size_t> all = {1, 0, 1};
  EXPECT_EQ(pick_smooth_round_robin(pool, current, all), std::nullopt);
}

// The caller keeps `current` across snapshots by backend id. A backend leaving
// and rejoining eligibility resumes with its old credit, and the pool settles
// back to its weights.
TEST(SmoothRoundRobin, StateCarriesOverWhenEligibilityFlips) {
  auto pool = weighted({1, 1, 1});
  std::vector<std::int64_t> current(pool.size());
  EXPECT_EQ(picks(pool, current, 4), "abca");

  pool[1].eligible = false;
  const std::int64_t parked = current[1];
  EXPECT_EQ(picks(pool, current, 6), "ccacac");
  EXPECT_EQ(current[1], parked);

  pool[1].eligible = true;
  const std::string after = picks(pool, current, 3000);
  EXPECT_NE(after.substr(0, 3).find('b'), std::string::npos);  // no starvation on return
  for (std::size_t i = 0; i < pool.size(); ++i) {
    const auto count =
        static_cast<std::uint64_t>(std::count(after.begin(), after.end(), letter(i)));
    EXPECT_TRUE(within_one_percent(count, after.size(), pool[i].weight, total_weight(pool)));
  }
}

TEST(SmoothRoundRobin, NewCandidateJoinsWithFreshState) {
  auto pool = weighted({2, 1});
  std::vector<std::int64_t> current(pool.size());
  EXPECT_EQ(picks(pool, current, 2), "ab");
  pool.push_back({.weight = 3});
  current.push_back(0);
  const std::string after = picks(pool, current, 6000);
  EXPECT_NE(after.substr(0, 6).find('c'), std::string::npos);
  for (std::size_t i = 0; i < pool.size(); ++i) {
    const auto count =
        static_cast<std::uint64_t>(std::count(after.begin(), after.end(), letter(i)));
    EXPECT_TRUE(within_one_percent(count, after.size(), pool[i].weight, total_weight(pool)));
  }
}

// Health flips, drains and retries at random: the state stays bounded and, once
// everything is eligible again, the weights are honoured.
TEST(SmoothRoundRobin, SeededRandomFlipsKeepStateBoundedAndWeightsHonoured) {
  std::mt19937 rng(7);
  auto pool = weighted({5, 3, 1, 1, 2});
  const auto total = static_cast<std::int64_t>(total_weight(pool));
  std::vector<std::int64_t> current(pool.size());
  for (int i = 0; i < 100'000; ++i) {
    if (rng() % 8 == 0) pool[rng() % pool.size()].eligible = rng() % 3 != 0;
    const std::vector<std::size_t> tried = {rng() % (2 * pool.size())};
    const auto picked = pick_smooth_round_robin(pool, current, tried);
    if (picked) {
      EXPECT_TRUE(pool[*picked].eligible);
      EXPECT_NE(*picked, tried[0]);
    }
    for (std::int64_t c : current) ASSERT_LE(std::abs(c), 2 * total);
  }

  for (auto& candidate : pool) candidate.eligible = true;
  constexpr std::uint64_t kPicks = 10'000;
  std::vector<std::uint64_t> counts(pool.size());
  for (std::uint64_t i = 0; i < kPicks; ++i) ++counts[*pick_smooth_round_robin(pool, current)];
  for (std::size_t i = 0; i < pool.size(); ++i)
    EXPECT_TRUE(within_one_percent(counts[i], kPicks, pool[i].weight, total_weight(pool)));
}

// A `current` of the wrong size is a programmer error: with asserts on it aborts;
// with NDEBUG (Release) the assert is gone and the pick falls back to the common
// prefix, never touching memory past either span. Each build checks the behaviour
// it has, and says so when it skips the other.
TEST(SmoothRoundRobinDeathTest, StateOfTheWrongSizeAbortsWhenAssertsAreOn) {
#ifdef NDEBUG
  GTEST_SKIP() << "NDEBUG build: asserts are off; StateOfTheWrongSizeUsesTheCommonPrefixWhenAssertsAreOff runs instead";
#else
  const auto pool = weighted({1, 1, 1});
  std::vector<std::int64_t> shorter(2);
  EXPECT_DEATH((void)pick_smooth_round_robin(pool, shorter), "current.size");
#endif
}

TEST(SmoothRoundRobin, StateOfTheWrongSizeUsesTheCommonPrefixWhenAssertsAreOff) {
#ifndef NDEBUG
  GTEST_SKIP() << "asserts are on: a wrong size aborts (StateOfTheWrongSizeAbortsWhenAssertsAreOn)";
#else
  // The heaviest candidate lies past the prefix, and the slot past the span is a
  // sentinel: picking it, or touching the sentinel, would show.
  const auto pool = weighted({1, 1, 5});
  std::vector<std::int64_t> storage = {0, 0, 777};
  const std::span<std::int64_t> shorter(storage.data(), 2);
  std::string order;
  for (int i = 0; i < 4; ++i) {
    const auto picked = pick_smooth_round_robin(pool, shorter);
    order += picked ? letter(*picked) : '-';
  }
  EXPECT_EQ(order, "abab");
  EXPECT_EQ(storage[2], 777) << "written past the span";
#endif
}

}  // namespace
}  // namespace keel::balancer
