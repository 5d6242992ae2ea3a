#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace keel::balancer {

inline constexpr std::uint32_t kDefaultWeight = 1;

// One backend as selection sees it. The caller folds admin state, health and
// passive ejection into `eligible`, so selection needs no knowledge of them.
struct Candidate {
  std::uint32_t weight = kDefaultWeight;
  bool eligible = true;
};

// Indices already tried for this request (retry after a connect failure).
// Tiny (retries + 1 at most), so a linear scan beats any set.
using Exclusion = std::span<const std::size_t>;

// Both picks run on a worker thread once per request: they allocate nothing.
// A candidate takes part only if it is eligible, has a weight above zero and is
// not excluded; the `current` of one that does not take part is left as it is.
// Every span must have one element per candidate (asserted).

// Smooth weighted round-robin as nginx does it: every pick adds each eligible
// candidate's weight to its running `current`, takes the largest, and subtracts
// the total from the winner. Weights 5:1:1 give "aabacaa", not "aaaaabc".
// `current` is the caller's per-candidate state (same size as `candidates`),
// kept by the caller so it can be carried over when the pool changes.
// Returns nullopt when no candidate is eligible and not excluded.
std::optional<std::size_t> pick_smooth_round_robin(std::span<const Candidate> candidates,
                                                   std::span<std::int64_t> current,
                                                   Exclusion exclude = {});

// Weighted least-connections: the eligible, non-excluded candidate with the
// smallest in_flight / weight (compared exactly, by cross-multiplication).
// Ties are broken by smooth weighted round-robin among the tied candidates, using
// and updating `current` as above, so an idle pool still honours weights and
// never always picks the first.
std::optional<std::size_t> pick_least_connections(std::span<const Candidate> candidates,
                                                  std::span<const std::uint32_t> in_flight,
                                                  std::span<std::int64_t> current,
                                                  Exclusion exclude = {});

}  // namespace keel::balancer
