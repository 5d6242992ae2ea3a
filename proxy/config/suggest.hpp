// "Did you mean ...?" for names the user got slightly wrong: config keys today,
// any closed set of names tomorrow (admin fields, state file keys).
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

// The names of `known` that `typo` most likely meant, best first (at most
// three), or none when nothing is close. A name is close when it is
//   - the same ignoring case and '-' for '_' ("Path-Prefix": "path_prefix"),
//   - what another proxy calls it ("port", "listen": "address"; "upstreams": "backends"),
//   - a few edits away, a swap of neighbours counting one ("weigth": "weight"),
//     at most 1 for names up to 4 letters, 2 up to 8, else 3,
//   - its leading words ("path": "path_prefix", "health": "health_check").
// Only the closest kind that matches is used, so "path" never also suggests "pool".
std::vector<std::string_view> closest_names(std::string_view typo, std::span<const std::string_view> known);
inline std::vector<std::string_view> closest_names(std::string_view typo,
                                                  std::initializer_list<std::string_view> known) {
  return closest_names(typo, std::span(known.begin(), known.size()));
}

// "; did you mean 'path_prefix'?" or "; did you mean 'a' or 'b'?"; empty when
// closest_names finds nothing.
std::string did_you_mean(std::string_view typo, std::span<const std::string_view> known);
inline std::string did_you_mean(std::string_view typo, std::initializer_list<std::string_view> known) {
  return did_you_mean(typo, std::span(known.begin(), known.size()));
}

// Restricted Damerau-Levenshtein distance (optimal string alignment): insertions,
// deletions, substitutions and swaps of adjacent characters each cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace keel::config
