#include "proxy/control/health_report.hpp"

#include <cmath>
#include <ctime>

namespace keel::control {

std::chrono::system_clock::time_point ClockPair::to_system(std::chrono::steady_clock::time_point t) const {
  // An ejection saturated at time_point::max() would overflow the subtraction.
  const auto max_ahead = std::chrono::hours(24 * 365 * 100);
  const auto ahead = t > steady && t - steady > max_ahead ? max_ahead : t - steady;
  return system + std::chrono::duration_cast<std::chrono::system_clock::duration>(ahead);
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::floor<std::chrono::seconds>(t));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const auto length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, length);
}

admin::CheckInfo check_info(const health::CheckReport& report, const ClockPair& now) {
  const double latency_ms = std::chrono::duration<double, std::milli>(report.latency).count();
  return {.last = utc_text(now.to_system(report.at)),
          .passed = report.passed,
          .detail = report.detail,
          .latency_ms = std::round(latency_ms * 1000) / 1000,  // microseconds are enough
          .consecutive = report.consecutive};
}

admin::EjectionInfo ejection_info(const Ejection& ejection, const ClockPair& now) {
  return {.until = utc_text(now.to_system(ejection.until)), .reason = health::describe(ejection.cause)};
}

}  // namespace keel::control
