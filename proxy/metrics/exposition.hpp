// Prometheus text exposition format 0.0.4: HELP and TYPE lines, samples with
// escaped label values, histograms as _bucket{le} (cumulative, ending in +Inf),
// _sum and _count. Control thread; builds one string per scrape.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace keel::metrics {

inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

using Label = std::pair<std::string_view, std::string_view>;

class Exposition {
 public:
  // Starts a metric family; its samples follow. `type`: counter, gauge, histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);

  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);

  // One histogram series: `counts[i]` observations in bucket i (not cumulative),
  // `counts` one longer than `bounds` (the last is past every bound).
  void histogram(std::string_view name, std::initializer_list<Label> labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
              std::string_view extra_name = {}, std::string_view extra_value = {});

  std::string out_;
};

// Label values escape backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value);
// HELP text escapes backslash and line feed.
void append_help(std::string& out, std::string_view help);
// Shortest round-trip form; "+Inf", "-Inf", "NaN" for the specials.
void append_number(std::string& out, double value);

}  // namespace keel::metrics
