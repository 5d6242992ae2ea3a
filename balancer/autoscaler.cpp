#include "balancer/autoscaler.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace keel::balancer {
namespace {

std::int64_t bucket_index(Autoscaler::Time now) { return now.count() / kAutoscaleBucket.count(); }

std::int64_t buckets_in(std::chrono::milliseconds window) {
  return std::max<std::int64_t>(1, window.count() / kAutoscaleBucket.count());
}

std::uint32_t backends_for(double concurrency, double target) {
  if (concurrency <= 0) return 0;
  const double needed = std::ceil(concurrency / target - 1e-9);  // 20/10 is 2, not 3 after rounding noise
  return needed >= 4e9 ? 4'000'000'000u : static_cast<std::uint32_t>(needed);
}

}  // namespace

const char* to_string(ScaleMode mode) { return mode == ScaleMode::panic ? "panic" : "stable"; }

Autoscaler::Autoscaler(const AutoscaleSettings& settings, std::uint32_t current, Time now)
    : settings_(settings),
      buckets_(static_cast<std::size_t>(buckets_in(settings.stable_window))),
      started_(now) {
  assert(settings.target_concurrency > 0);
  assert(settings.panic_window < settings.stable_window);
  last_.desired = clamp(current);
}

void Autoscaler::record(Time now, double concurrency) {
  const std::int64_t index = bucket_index(now);
  Bucket& bucket = buckets_[static_cast<std::size_t>(index % static_cast<std::int64_t>(buckets_.size()))];
  if (bucket.index != index) bucket = Bucket{.index = index, .sum = 0, .count = 0};
  bucket.sum += std::max(0.0, concurrency);
  ++bucket.count;
}

double Autoscaler::average(Time now, std::chrono::milliseconds window) const {
  const std::int64_t newest = bucket_index(now);
  const std::int64_t oldest = newest - buckets_in(window) + 1;
  double sum = 0;
  std::uint64_t count = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.index < oldest || bucket.index > newest) continue;
    sum += bucket.sum;
    count += bucket.count;
  }
  return count == 0 ? 0 : sum / static_cast<double>(count);
}

std::uint32_t Autoscaler::clamp(std::uint32_t desired) const {
  return std::clamp(desired, settings_.min_backends, settings_.max_backends);
}

ScaleDecision Autoscaler::decide(Time now, std::uint32_t current, std::uint64_t waiting) {
  const double stable = average(now, settings_.stable_window);
  const double panic = average(now, settings_.panic_window);
  // Knative counts an empty pool as one backend, so that the first burst on
  // a pool scaled to zero panics rather than dividing by zero.
  const double capacity = std::max<std::uint32_t>(current, 1) * settings_.target_concurrency;
  const bool over_threshold = panic >= kPanicThreshold * capacity;

  if (over_threshold) {
    if (!in_panic_) panic_floor_ = std::max(current, last_.desired);
    in_panic_ = true;
    last_over_threshold_ = now;
  } else if (in_panic_ && now - last_over_threshold_ >= settings_.stable_window) {
    in_panic_ = false;
    panic_floor_ = 0;
  }

  ScaleDecision decision;
  if (in_panic_) {
    decision.mode = ScaleMode::panic;
    decision.observed_concurrency = panic;
    decision.desired = clamp(std::max(backends_for(panic, settings_.target_concurrency), panic_floor_));
    panic_floor_ = decision.desired;
  } else {
    decision.mode = ScaleMode::stable;
    decision.observed_concurrency = stable;
    decision.desired = clamp(backends_for(stable, settings_.target_concurrency));
    // Until the samples cover a whole stable window, its average is not yet
    // the stable window's opinion: hold instead of scaling down.
    if (decision.desired < last_.desired && now - started_ < settings_.stable_window)
      decision.desired = last_.desired;
  }
  // Requests are held for lack of any backend: ask for one now, whatever the
  // windows say (the samples may not have seen them yet).
  if (current == 0 && waiting > 0) decision.desired = std::max<std::uint32_t>(decision.desired, 1);
  last_ = decision;
  return decision;
}

}  // namespace keel::balancer
