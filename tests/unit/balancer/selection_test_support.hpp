#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "balancer/selection.hpp"

namespace keel::balancer::test_support {

inline std::vector<Candidate> weighted(std::initializer_list<std::uint32_t> weights) {
  std::vector<Candidate> pool;
  for (std::uint32_t weight : weights) pool.push_back({.weight = weight});
  return pool;
}

inline std::uint64_t total_weight(const std::vector<Candidate>& pool) {
  std::uint64_t total = 0;
  for (const Candidate& candidate : pool) total += candidate.weight;
  return total;
}

inline char letter(std::size_t index) { return static_cast<char>('a' + index); }

// |count / picks - weight / total| <= 1%, in integers.
inline bool within_one_percent(std::uint64_t count, std::uint64_t picks, std::uint64_t weight,
                               std::uint64_t total) {
  const std::uint64_t lhs = count * total;
  const std::uint64_t rhs = picks * weight;
  const std::uint64_t deviation = lhs > rhs ? lhs - rhs : rhs - lhs;
  return deviation * 100 <= picks * total;
}

}  // namespace keel::balancer::test_support
