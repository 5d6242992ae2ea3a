// Durations in the config file: "250ms", "2s", "1m", "1h", "1.5s".
#include "proxy/config/config.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace keel::config {
namespace {

constexpr std::size_t kMaxFractionDigits = 9;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::int64_t> unit_milliseconds(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1'000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return std::nullopt;
}

// A bare number below this reads as seconds ("timeout: 2"), from it on as
// milliseconds ("timeout: 2000"): nobody means a 2000 s timeout, few a 2 ms one.
constexpr std::int64_t kSecondsBelow = 100;
// Between kSecondsBelow and this, either reading is plausible ("drain: 300").
constexpr std::int64_t kMillisecondsFrom = 1'000;

// Unit spellings from other tools, each mapped to keel's.
constexpr std::pair<std::string_view, std::string_view> kUnitSpellings[] = {
    {"ms", "ms"}, {"msec", "ms"}, {"msecs", "ms"}, {"millis", "ms"}, {"millisecond", "ms"}, {"milliseconds", "ms"},
    {"s", "s"},   {"sec", "s"},   {"secs", "s"},   {"second", "s"},  {"seconds", "s"},
    {"m", "m"},   {"min", "m"},   {"mins", "m"},   {"minute", "m"},  {"minutes", "m"},
    {"h", "h"},   {"hr", "h"},    {"hrs", "h"},    {"hour", "h"},    {"hours", "h"},
};

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// "120000" (milliseconds) in the largest unit that keeps it whole: "2m".
std::string largest_whole_unit(std::int64_t milliseconds) {
  constexpr std::array<std::pair<std::int64_t, std::string_view>, 3> kUnits = {
      {{3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}}};
  for (const auto& [size, unit] : kUnits)
    if (milliseconds % size == 0) return std::to_string(milliseconds / size) + std::string(unit);
  return std::to_string(milliseconds) + "ms";
}

std::string bare_number_suggestion(std::string_view number) {
  if (number.find('.') != std::string_view::npos) {
    const std::string seconds = std::string(number) + "s";
    return parse_duration(seconds) ? quoted(seconds) : std::string();
  }
  if (number.size() > 15) return {};  // no sensible duration; avoids overflow below
  std::int64_t value = 0;
  for (const char c : number) value = value * 10 + (c - '0');
  const std::string as_seconds = std::string(number) + "s";
  const std::string as_milliseconds = std::string(number) + "ms";
  if (value < kSecondsBelow) return quoted(as_seconds);
  if (value < kMillisecondsFrom) return quoted(as_milliseconds) + " or " + quoted(as_seconds);
  const std::string shorter = largest_whole_unit(value);
  if (shorter == as_milliseconds) return quoted(as_milliseconds);
  return quoted(as_milliseconds) + ", that is " + quoted(shorter);
}

}  // namespace

std::string duration_suggestion(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && (is_digit(text[digits]) || text[digits] == '.')) ++digits;
  if (digits == 0) return {};
  const std::string_view number = text.substr(0, digits);
  if (number.find('.') != number.rfind('.') || number.front() == '.' || number.back() == '.') return {};
  std::string_view unit = text.substr(digits);
  if (unit.empty()) return bare_number_suggestion(number);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  std::string lower(unit);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const auto& [spelling, keel_unit] : kUnitSpellings) {
    if (lower != spelling) continue;
    const std::string candidate = std::string(number) + std::string(keel_unit);
    if (candidate != text && parse_duration(candidate)) return quoted(candidate);
  }
  return {};
}

std::optional<Milliseconds> parse_duration(std::string_view text) {
  std::size_t i = 0;
  std::int64_t whole = 0;
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  for (; i < text.size() && is_digit(text[i]); ++i) {
    const int digit = text[i] - '0';
    if (whole > (kMax - digit) / 10) return std::nullopt;
    whole = whole * 10 + digit;
  }
  if (i == 0) return std::nullopt;  // empty, negative, or no number first

  std::string_view fraction;
  if (i < text.size() && text[i] == '.') {
    const std::size_t start = ++i;
    while (i < text.size() && is_digit(text[i])) ++i;
    fraction = text.substr(start, i - start);
    if (fraction.empty()) return std::nullopt;  // "1.s"
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (fraction.size() > kMaxFractionDigits) return std::nullopt;
  }

  const auto unit = unit_milliseconds(text.substr(i));
  if (!unit) return std::nullopt;
  if (whole > kMax / *unit) return std::nullopt;
  std::int64_t total = whole * *unit;

  if (!fraction.empty()) {
    // Exact integer arithmetic: at most 9 digits times at most 3.6e6 fits in
    // 64 bits. A value finer than a millisecond is refused, not rounded.
    std::int64_t numerator = 0;
    std::int64_t denominator = 1;
    for (const char c : fraction) {
      numerator = numerator * 10 + (c - '0');
      denominator *= 10;
    }
    numerator *= *unit;
    if (numerator % denominator != 0) return std::nullopt;
    const std::int64_t extra = numerator / denominator;
    if (total > kMax - extra) return std::nullopt;
    total += extra;
  }
  return Milliseconds(total);
}

}  // namespace keel::config
