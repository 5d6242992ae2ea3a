#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "balancer/selection.hpp"

// GCC 12 pairs the replaced operators below with gtest's inlined new/delete and
// warns of a mismatch that is not there (both sides use malloc/free).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Picks run once per request, so they must not allocate. This binary replaces
// the global allocator to count allocations made while `counting` is set.
namespace {

bool counting = false;
std::size_t allocations = 0;

}  // namespace

void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}

void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

namespace keel::balancer {
namespace {

TEST(Selection, PicksDoNotAllocate) {
  const std::vector<Candidate> pool = {
      {.weight = 5}, {.weight = 1, .eligible = false}, {.weight = 3}, {.weight = 0}, {.weight = 2}};
  const std::vector<std::uint32_t> in_flight = {4, 0, 2, 0, 2};
  std::vector<std::int64_t> current(pool.size());
  const std::vector<std::size_t> tried = {2};
  std::size_t picked = 0;

  counting = true;
  for (int i = 0; i < 1000; ++i) {
    picked += pick_smooth_round_robin(pool, current).value_or(0);
    picked += pick_smooth_round_robin(pool, current, tried).value_or(0);
    picked += pick_least_connections(pool, in_flight, current).value_or(0);
    picked += pick_least_connections(pool, in_flight, current, tried).value_or(0);
  }
  counting = false;

  EXPECT_EQ(allocations, 0u);
  EXPECT_GT(picked, 0u);
}

}  // namespace
}  // namespace keel::balancer
