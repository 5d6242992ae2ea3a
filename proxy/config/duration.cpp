// Durations in the config file: "250ms", "2s", "1m", "1h", "1.5s".
#include "proxy/config/config.hpp"

#include <cstdint>
#include <limits>

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

}  // namespace

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
