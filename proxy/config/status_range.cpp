// Expected HTTP statuses in the config file: "200" or "200-399".
#include "proxy/config/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

namespace keel::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::uint16_t> parse_status(std::string_view text, std::string& problem) {
  if (text.empty() || text.size() > 3 || !std::all_of(text.begin(), text.end(), is_digit)) {
    problem = "expected a status code like 200 or a range like 200-399";
    return std::nullopt;
  }
  std::uint16_t status = 0;
  std::from_chars(text.data(), text.data() + text.size(), status);
  if (status < 100 || status > 599) {
    problem = "status codes are from 100 to 599, got " + std::string(text);
    return std::nullopt;
  }
  return status;
}

}  // namespace

std::optional<StatusRange> parse_status_range(std::string_view text, std::string& problem) {
  const auto dash = text.find('-');
  const auto min = parse_status(text.substr(0, dash), problem);
  if (!min) return std::nullopt;
  if (dash == std::string_view::npos) return StatusRange{*min, *min};
  const auto max = parse_status(text.substr(dash + 1), problem);
  if (!max) return std::nullopt;
  if (*min > *max) {
    problem = "the range is reversed (" + std::to_string(*min) + " > " + std::to_string(*max) + ")";
    return std::nullopt;
  }
  return StatusRange{*min, *max};
}

}  // namespace keel::config
