// A pool's health checks: active (health_check) and passive (passive).
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <utility>

namespace keel::config::detail {
namespace {

constexpr std::int64_t kMaxThreshold = 100;
constexpr std::int64_t kMaxFails = 1'000;

std::string duration_text(Milliseconds duration) {
  const std::int64_t ms = duration.count();
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

std::optional<HealthCheck> Loader::load_health_check(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"path", "interval", "timeout", "healthy_threshold",
                                                    "unhealthy_threshold", "expect_status"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  HealthCheck check;
  if (const Value* field = fields->find("path")) {
    if (const auto path = string(*field)) {
      // It goes into a request line as it is.
      const bool is_plain_ascii = std::all_of(path->begin(), path->end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte > ' ' && byte < 0x7f;
      });
      if (!is_plain_ascii)
        error(field->mark, field->path +
                               " must not contain spaces, line breaks, control or non-ASCII characters "
                               "(percent-encode them)");
      else if (!path->starts_with('/'))
        error(field->mark, field->path + " must start with '/', got '" + *path + "'");
      else
        check.path = *path;
    }
  }
  const Value* interval = fields->find("interval");
  const Value* timeout = fields->find("timeout");
  bool durations_valid = true;
  for (const auto& [field, target] :
       {std::pair(interval, &check.interval), std::pair(timeout, &check.timeout)}) {
    if (field == nullptr) continue;
    if (const auto parsed = duration(*field, false))
      *target = *parsed;
    else
      durations_valid = false;
  }
  // A check that outlives its interval would overlap the next one.
  if (durations_valid && check.timeout > check.interval) {
    const Value* at = timeout != nullptr ? timeout : interval;
    error(at->mark, value.path + ".timeout (" + duration_text(check.timeout) +
                        (timeout ? "" : ", the default") + ") must not be longer than " + value.path +
                        ".interval (" + duration_text(check.interval) + (interval ? "" : ", the default") +
                        ")");
  }
  const std::pair<std::string_view, std::uint32_t*> thresholds[] = {
      {"healthy_threshold", &check.healthy_threshold},
      {"unhealthy_threshold", &check.unhealthy_threshold},
  };
  for (const auto& [key, target] : thresholds)
    if (const Value* field = fields->find(key))
      if (const auto n = integer(*field, 1, kMaxThreshold)) *target = static_cast<std::uint32_t>(*n);
  if (const Value* field = fields->find("expect_status")) {
    if (const auto text = string(*field)) {
      std::string problem;
      if (const auto range = parse_status_range(*text, problem)) {
        check.expect_min = range->min;
        check.expect_max = range->max;
      } else {
        error(field->mark, "invalid status range '" + *text + "' for " + field->path + ": " + problem);
      }
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return check;
}

std::optional<Passive> Loader::load_passive(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"max_fails", "fail_timeout"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  Passive passive;
  if (const Value* field = fields->find("max_fails"))
    if (const auto n = integer(*field, 1, kMaxFails)) passive.max_fails = static_cast<std::uint32_t>(*n);
  if (const Value* field = fields->find("fail_timeout"))
    if (const auto parsed = duration(*field, false)) passive.fail_timeout = *parsed;
  if (errors_.size() != errors_before) return std::nullopt;
  return passive;
}

}  // namespace keel::config::detail
