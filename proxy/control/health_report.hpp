// The health part of a backend's admin JSON (docs/health.md): the
// checker's and the workers' steady-clock facts turned into wall-clock text.
#pragma once

#include "health/checker.hpp"
#include "proxy/admin/pool_admin.hpp"
#include "proxy/control/backend_stats.hpp"

#include <chrono>
#include <string>

namespace keel::control {

// One instant on both clocks, so a steady time point can be shown as UTC.
struct ClockPair {
  std::chrono::steady_clock::time_point steady;
  std::chrono::system_clock::time_point system;

  static ClockPair now() { return {std::chrono::steady_clock::now(), std::chrono::system_clock::now()}; }
  std::chrono::system_clock::time_point to_system(std::chrono::steady_clock::time_point t) const;
};

// "2026-12-04T17:00:00Z" (seconds, UTC).
std::string utc_text(std::chrono::system_clock::time_point t);

admin::CheckInfo check_info(const health::CheckReport& report, const ClockPair& now);
admin::EjectionInfo ejection_info(const Ejection& ejection, const ClockPair& now);

}  // namespace keel::control
