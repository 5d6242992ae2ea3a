#include "balancer/selection.hpp"

#include <algorithm>
#include <cassert>

namespace keel::balancer {
namespace {

bool is_excluded(std::size_t index, Exclusion exclude) {
  return std::find(exclude.begin(), exclude.end(), index) != exclude.end();
}

bool is_pickable(const Candidate& candidate, std::size_t index, Exclusion exclude) {
  return candidate.eligible && candidate.weight > 0 && !is_excluded(index, exclude);
}

// One smooth weighted round-robin step over the first `count` candidates for
// which `takes_part(i)` holds; the others' `current` is left as it is, so a
// candidate that comes back resumes where it stopped.
template <typename TakesPart>
std::optional<std::size_t> smooth_step(std::span<const Candidate> candidates,
                                       std::span<std::int64_t> current, std::size_t count,
                                       TakesPart takes_part) {
  std::optional<std::size_t> winner;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!takes_part(i)) continue;
    const std::int64_t weight = candidates[i].weight;
    current[i] += weight;
    total += weight;
    // Strictly greater: ties go to the lowest index, as in nginx.
    if (!winner || current[i] > current[*winner]) winner = i;
  }
  if (winner) current[*winner] -= total;
  return winner;
}

}  // namespace

std::optional<std::size_t> pick_smooth_round_robin(std::span<const Candidate> candidates,
                                                   std::span<std::int64_t> current,
                                                   Exclusion exclude) {
  assert(current.size() == candidates.size());
  // Should the caller break the invariant in a release build, only the common
  // prefix is considered: never an access out of bounds.
  const std::size_t count = std::min(candidates.size(), current.size());
  return smooth_step(candidates, current, count, [&](std::size_t i) {
    return is_pickable(candidates[i], i, exclude);
  });
}

std::optional<std::size_t> pick_least_connections(std::span<const Candidate> candidates,
                                                  std::span<const std::uint32_t> in_flight,
                                                  std::span<std::int64_t> current,
                                                  Exclusion exclude) {
  assert(in_flight.size() == candidates.size());
  assert(current.size() == candidates.size());
  const std::size_t count = std::min({candidates.size(), in_flight.size(), current.size()});

  // a / wa vs b / wb as a * wb vs b * wa: both products fit in 64 bits.
  const auto load_vs = [&](std::size_t a, std::size_t b) {
    const std::uint64_t lhs = std::uint64_t{in_flight[a]} * candidates[b].weight;
    const std::uint64_t rhs = std::uint64_t{in_flight[b]} * candidates[a].weight;
    return lhs < rhs ? -1 : (lhs > rhs ? 1 : 0);
  };

  std::optional<std::size_t> least;
  for (std::size_t i = 0; i < count; ++i) {
    if (!is_pickable(candidates[i], i, exclude)) continue;
    if (!least || load_vs(i, *least) < 0) least = i;
  }
  if (!least) return std::nullopt;

  return smooth_step(candidates, current, count, [&](std::size_t i) {
    return is_pickable(candidates[i], i, exclude) && load_vs(i, *least) == 0;
  });
}

}  // namespace keel::balancer
