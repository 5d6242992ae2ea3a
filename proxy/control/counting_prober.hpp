#pragma once

#include "health/checker.hpp"

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>

namespace keel::control {

// Health-check results per backend id, for keel_health_checks_total.
struct CheckCounts {
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
};

// A Prober that counts the results of another one. Control thread only. The
// counts are shared with the callbacks, so a probe finishing after this object
// is gone still has somewhere to count.
class CountingProber final : public health::Prober {
 public:
  explicit CountingProber(health::Prober& inner) : inner_(inner) {}

  void probe(const health::ProbeTarget& target, const health::CheckSettings& settings, Done done) override {
    inner_.probe(target, settings, [counts = counts_, id = target.backend_id, done = std::move(done)](
                                       health::ProbeResult result) {
      auto& entry = (*counts)[id];
      ++(result.passed ? entry.passed : entry.failed);
      done(std::move(result));
    });
  }

  CheckCounts counts(std::uint64_t backend_id) const {
    const auto found = counts_->find(backend_id);
    return found == counts_->end() ? CheckCounts{} : found->second;
  }
  // A backend that is gone takes its counts with it.
  void forget(std::uint64_t backend_id) { counts_->erase(backend_id); }

 private:
  health::Prober& inner_;
  std::shared_ptr<std::unordered_map<std::uint64_t, CheckCounts>> counts_ =
      std::make_shared<std::unordered_map<std::uint64_t, CheckCounts>>();
};

}  // namespace keel::control
