// HTTP status codes folded into a small fixed table, so a per-request count is
// one array store and needs no map or allocation. The common codes each have
// their own slot; any other code counts in its class's slot ("4xx"), and a
// code outside 100..599 in "other".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keel::metrics {

inline constexpr std::array<std::uint16_t, 31> kCommonStatuses = {
    101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404,
    405, 408, 409, 410, 413, 415, 422, 429, 431, 499, 500, 501, 502, 503, 504};
inline constexpr std::size_t kClassSlotsBegin = kCommonStatuses.size();  // then 1xx..5xx
inline constexpr std::size_t kOtherSlot = kClassSlotsBegin + 5;
inline constexpr std::size_t kStatusSlots = kOtherSlot + 1;

namespace detail {
constexpr std::array<std::uint8_t, 500> make_slot_table() {
  std::array<std::uint8_t, 500> table{};
  for (std::size_t code = 100; code < 600; ++code)
    table[code - 100] = static_cast<std::uint8_t>(kClassSlotsBegin + code / 100 - 1);
  for (std::size_t i = 0; i < kCommonStatuses.size(); ++i)
    table[kCommonStatuses[i] - 100] = static_cast<std::uint8_t>(i);
  return table;
}
inline constexpr auto kSlotTable = make_slot_table();
}  // namespace detail

constexpr std::size_t status_slot(int code) {
  if (code < 100 || code > 599) return kOtherSlot;
  return detail::kSlotTable[static_cast<std::size_t>(code - 100)];
}

// The `code` label of a slot: "200", "4xx", "other".
constexpr std::string_view status_label(std::size_t slot) {
  constexpr std::array<std::string_view, kStatusSlots> kLabels = {
      "101", "200", "201", "202", "204", "206", "301", "302", "303", "304", "307", "308", "400", "401", "403", "404",
      "405", "408", "409", "410", "413", "415", "422", "429", "431", "499", "500", "501", "502", "503", "504",
      "1xx", "2xx", "3xx", "4xx", "5xx", "other"};
  return slot < kLabels.size() ? kLabels[slot] : std::string_view("other");
}

}  // namespace keel::metrics
