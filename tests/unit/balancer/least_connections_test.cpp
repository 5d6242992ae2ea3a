#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <queue>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "balancer/selection.hpp"
#include "tests/unit/balancer/selection_test_support.hpp"

namespace keel::balancer {
namespace {

using test_support::letter;
using test_support::total_weight;
using test_support::weighted;
using test_support::within_one_percent;

constexpr auto kMaxU32 = std::numeric_limits<std::uint32_t>::max();

// `count` picks with the load held constant, as if each request finished
// before the next one arrived.
std::string picks(const std::vector<Candidate>& pool, const std::vector<std::uint32_t>& in_flight,
                  std::vector<std::int64_t>& current, std::size_t count, Exclusion exclude = {}) {
  std::string order;
  for (std::size_t i = 0; i < count; ++i) {
    const auto picked = pick_least_connections(pool, in_flight, current, exclude);
    order += picked ? letter(*picked) : '-';
  }
  return order;
}

struct LoadCase {
  std::vector<Candidate> pool;
  std::vector<std::uint32_t> in_flight;
  std::size_t expected;
};

TEST(LeastConnections, PicksTheLeastLoadedPerUnitOfWeight) {
  const std::vector<LoadCase> cases = {
      {weighted({1, 1, 1}), {3, 1, 2}, 1},
      {weighted({1, 1, 1}), {0, 5, 5}, 0},
      {weighted({1, 1, 1}), {5, 5, 0}, 2},
      {weighted({2, 1}), {3, 1}, 1},      // 1.5 vs 1
      {weighted({3, 1}), {2, 1}, 0},      // 0.67 vs 1
      {weighted({1, 3}), {1, 2}, 1},      // 1 vs 0.67
      {weighted({10, 1}), {9, 1}, 0},     // 0.9 vs 1
      {weighted({100, 1}), {150, 2}, 0},  // 1.5 vs 2
      {weighted({1, 100}), {1, 99}, 1},   // 1 vs 0.99
      {weighted({5, 5, 5, 5, 5}), {9, 8, 7, 6, 8}, 3},
      {{{.weight = 1, .eligible = false}, {.weight = 1}}, {0, 50}, 1},
      {{{.weight = 0}, {.weight = 1}}, {0, 50}, 1},
      {weighted({kMaxU32, 1}), {kMaxU32, 0}, 1},
      {weighted({kMaxU32, 1}), {kMaxU32 - 1, 1}, 0},
  };
  for (const auto& c : cases) {
    std::vector<std::int64_t> current(c.pool.size());
    EXPECT_EQ(pick_least_connections(c.pool, c.in_flight, current), c.expected)
        << ::testing::PrintToString(c.in_flight);
  }
}

// (2^32-2)/(2^32-3) and (2^32-1)/(2^32-2) differ by about 2^-64, far below a
// double's resolution near 1: only exact integer comparison sees that b is less
// loaded, so b wins alone and a's state is not touched by a tie-break.
TEST(LeastConnections, ComparesLoadExactly) {
  const auto pool = weighted({kMaxU32 - 2, kMaxU32 - 1});
  const std::vector<std::uint32_t> in_flight = {kMaxU32 - 1, kMaxU32};
  std::vector<std::int64_t> current(pool.size());
  EXPECT_EQ(pick_least_connections(pool, in_flight, current), 1);
  EXPECT_EQ(current, (std::vector<std::int64_t>{0, 0}));
}

struct TieCase {
  std::vector<Candidate> pool;
  std::vector<std::uint32_t> in_flight;
  std::string order;
};

TEST(LeastConnections, TiesAreSharedBySmoothWeightedRoundRobin) {
  const std::vector<TieCase> cases = {
      {weighted({1, 1, 1}), {0, 0, 0}, "abcabc"},
      {weighted({5, 1, 1}), {0, 0, 0}, "aabacaa"},
      {weighted({2, 1}), {2, 1}, "abaaba"},        // 2/2 == 1/1
      {weighted({1, 2, 3}), {1, 2, 3}, "cbacbc"},  // all at 1 per unit of weight
      {weighted({1, 1, 1}), {4, 4, 9}, "ababab"},
      {weighted({1, 1, 1}), {9, 4, 4}, "bcbcbc"},
      {weighted({kMaxU32, kMaxU32}), {kMaxU32, kMaxU32}, "abab"},
      {{{.weight = 1}, {.weight = 1, .eligible = false}, {.weight = 1}}, {0, 0, 0}, "acac"},
  };
  for (const auto& c : cases) {
    std::vector<std::int64_t> current(c.pool.size());
    EXPECT_EQ(picks(c.pool, c.in_flight, current, c.order.size()), c.order);
  }
}

TEST(LeastConnections, OnlyTiedCandidatesSpendTheirState) {
  const auto pool = weighted({1, 1, 1});
  const std::vector<std::uint32_t> in_flight = {5, 2, 2};
  std::vector<std::int64_t> current = {11, 0, 0};
  EXPECT_EQ(pick_least_connections(pool, in_flight, current), 1);
  EXPECT_EQ(current, (std::vector<std::int64_t>{11, -1, 1}));
}

TEST(LeastConnections, IdlePoolHonoursWeightsWithinOnePercent) {
  const std::vector<std::vector<Candidate>> pools = {
      weighted({1, 1}),        weighted({3, 1}),   weighted({5, 1, 1}),
      weighted({10, 3, 2, 1}), weighted({100, 1}), weighted({1, 1, 1, 1, 1, 1, 1}),
  };
  constexpr std::uint64_t kPicks = 10'000;
  for (const auto& pool : pools) {
    const std::vector<std::uint32_t> idle(pool.size(), 0);
    std::vector<std::int64_t> current(pool.size());
    std::vector<std::uint64_t> counts(pool.size());
    for (std::uint64_t i = 0; i < kPicks; ++i)
      ++counts[*pick_least_connections(pool, idle, current)];
    for (std::size_t i = 0; i < pool.size(); ++i) {
      EXPECT_TRUE(within_one_percent(counts[i], kPicks, pool[i].weight, total_weight(pool)))
          << "candidate " << i << " got " << counts[i] << " of " << kPicks;
    }
  }
}

// Requests that never finish pile up in proportion to the weights.
TEST(LeastConnections, OutstandingRequestsSpreadByWeight) {
  const auto pool = weighted({3, 1, 2});
  std::vector<std::uint32_t> in_flight(pool.size());
  std::vector<std::int64_t> current(pool.size());
  for (int round = 1; round <= 100; ++round) {
    for (int i = 0; i < 6; ++i) ++in_flight[*pick_least_connections(pool, in_flight, current)];
    ASSERT_EQ(in_flight, (std::vector<std::uint32_t>{3u * round, 1u * round, 2u * round}));
  }
}

TEST(LeastConnections, EmptyPoolPicksNothing) {
  std::vector<std::int64_t> current;
  EXPECT_EQ(pick_least_connections({}, {}, current), std::nullopt);
}

TEST(LeastConnections, NothingEligiblePicksNothingAndKeepsState) {
  const std::vector<std::vector<Candidate>> pools = {
      {{.weight = 1, .eligible = false}},
      {{.weight = 5, .eligible = false}, {.weight = 1, .eligible = false}},
      {{.weight = 0}, {.weight = 0}},
      {{.weight = 0}, {.weight = 3, .eligible = false}},
  };
  for (const auto& pool : pools) {
    const std::vector<std::uint32_t> in_flight(pool.size(), 0);
    std::vector<std::int64_t> current(pool.size(), 7);
    EXPECT_EQ(pick_least_connections(pool, in_flight, current), std::nullopt);
    EXPECT_EQ(current, std::vector<std::int64_t>(pool.size(), 7));
  }
}

struct RetryCase {
  std::vector<Candidate> pool;
  std::vector<std::uint32_t> in_flight;
  std::string tries;  // one request: pick, then retry excluding everything tried
};

TEST(LeastConnections, RetrySkipsTriedCandidatesUntilNoneAreLeft) {
  const std::vector<RetryCase> cases = {
      {weighted({1}), {0}, "a-"},
      {weighted({1, 1, 1}), {2, 0, 1}, "bca-"},
      {weighted({1, 1, 1}), {0, 0, 0}, "abc-"},
      {weighted({1, 4}), {1, 3}, "ba-"},
      {{{.weight = 1}, {.weight = 1, .eligible = false}, {.weight = 1}}, {3, 0, 3}, "ac-"},
      {{{.weight = 1, .eligible = false}}, {0}, "-"},
  };
  for (const auto& c : cases) {
    std::vector<std::int64_t> current(c.pool.size());
    std::vector<std::size_t> tried;
    std::string order;
    for (std::size_t attempt = 0; attempt < c.tries.size(); ++attempt) {
      const auto picked = pick_least_connections(c.pool, c.in_flight, current, tried);
      order += picked ? letter(*picked) : '-';
      if (picked) tried.push_back(*picked);
    }
    EXPECT_EQ(order, c.tries);
  }
}

TEST(LeastConnections, ExcludedCandidatesNeitherWinNorTie) {
  const auto pool = weighted({1, 1, 1});
  const std::vector<std::uint32_t> in_flight = {0, 0, 1};
  std::vector<std::int64_t> current = {5, 0, 0};
  const std::vector<std::size_t> tried = {0, 42};
  EXPECT_EQ(picks(pool, in_flight, current, 3, tried), "bbb");
  EXPECT_EQ(current, (std::vector<std::int64_t>{5, 0, 0}));
}

// Three equal backends, three requests per tick; c takes ten times as long to
// answer. Round-robin would give each a third; least-connections keeps the
// in-flight counts level, so c gets about 2 / (2 + 2 + 20) of the traffic.
TEST(LeastConnections, SlowBackendGetsFarFewerRequests) {
  const auto pool = weighted({1, 1, 1});
  const std::vector<int> latency_ticks = {2, 2, 20};
  std::vector<std::uint32_t> in_flight(pool.size());
  std::vector<std::int64_t> current(pool.size());
  std::vector<std::uint64_t> counts(pool.size());
  using Completion = std::pair<int, std::size_t>;  // tick, backend
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> completions;

  for (int tick = 0; tick < 10'000; ++tick) {
    while (!completions.empty() && completions.top().first <= tick) {
      --in_flight[completions.top().second];
      completions.pop();
    }
    for (int arrival = 0; arrival < 3; ++arrival) {
      const std::size_t picked = *pick_least_connections(pool, in_flight, current);
      ++in_flight[picked];
      ++counts[picked];
      completions.push({tick + latency_ticks[picked], picked});
    }
  }

  const std::uint64_t total = counts[0] + counts[1] + counts[2];
  EXPECT_LT(counts[2] * 10, total) << counts[2] << " of " << total;  // under 10%, not 33%
  EXPECT_GT(counts[0] * 10, total * 4);
  EXPECT_GT(counts[1] * 10, total * 4);
}

// Spans of the wrong size are a programmer error: with asserts on they abort;
// with NDEBUG (Release) the assert is gone and the pick falls back to the common
// prefix, never touching memory past a span. Each build checks the behaviour it
// has, and says so when it skips the other.
TEST(LeastConnectionsDeathTest, SpansOfTheWrongSizeAbortWhenAssertsAreOn) {
#ifdef NDEBUG
  GTEST_SKIP() << "NDEBUG build: asserts are off; SpansOfTheWrongSizeUseTheCommonPrefixWhenAssertsAreOff runs instead";
#else
  const auto pool = weighted({1, 1, 1});
  const std::vector<std::uint32_t> in_flight(3);
  const std::vector<std::uint32_t> short_in_flight(2);
  std::vector<std::int64_t> current(3);
  std::vector<std::int64_t> short_current(2);
  EXPECT_DEATH((void)pick_least_connections(pool, short_in_flight, current), "in_flight.size");
  EXPECT_DEATH((void)pick_least_connections(pool, in_flight, short_current), "current.size");
#endif
}

TEST(LeastConnections, SpansOfTheWrongSizeUseTheCommonPrefixWhenAssertsAreOff) {
#ifndef NDEBUG
  GTEST_SKIP() << "asserts are on: a wrong size aborts (SpansOfTheWrongSizeAbortWhenAssertsAreOn)";
#else
  // The best candidate lies past the prefix (idle, or the heaviest), and the slot
  // past each short span is a sentinel: picking it, or touching it, would show.
  {
    const auto pool = weighted({1, 1, 1});
    const std::vector<std::uint32_t> in_flight_storage = {5, 5, 0};
    const std::span<const std::uint32_t> short_in_flight(in_flight_storage.data(), 2);
    std::vector<std::int64_t> current(3);
    std::string order;
    for (int i = 0; i < 4; ++i) {
      const auto picked = pick_least_connections(pool, short_in_flight, current);
      order += picked ? letter(*picked) : '-';
    }
    EXPECT_EQ(order, "abab") << "short in_flight";
  }
  {
    const auto pool = weighted({1, 1, 5});
    const std::vector<std::uint32_t> in_flight(3);
    std::vector<std::int64_t> current_storage = {0, 0, 777};
    const std::span<std::int64_t> short_current(current_storage.data(), 2);
    std::string order;
    for (int i = 0; i < 4; ++i) {
      const auto picked = pick_least_connections(pool, in_flight, short_current);
      order += picked ? letter(*picked) : '-';
    }
    EXPECT_EQ(order, "abab") << "short current";
    EXPECT_EQ(current_storage[2], 777) << "written past the span";
  }
#endif
}

}  // namespace
}  // namespace keel::balancer
