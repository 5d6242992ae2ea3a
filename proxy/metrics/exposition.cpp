#include "proxy/metrics/exposition.hpp"

#include <charconv>
#include <cmath>

namespace keel::metrics {

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

namespace {
void append_integer(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}
}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_help(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void Exposition::series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
                        std::string_view extra_name, std::string_view extra_value) {
  out_ += name;
  out_ += suffix;
  if (labels.size() == 0 && extra_name.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  const auto label = [&](std::string_view key, std::string_view value) {
    if (!first) out_ += ',';
    first = false;
    out_ += key;
    out_ += "=\"";
    append_label_value(out_, value);
    out_ += '"';
  };
  for (const auto& [key, value] : labels) label(key, value);
  if (!extra_name.empty()) label(extra_name, extra_value);
  out_ += "} ";
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
  series(name, {}, labels);
  append_integer(out_, value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  series(name, {}, labels);
  append_number(out_, value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, std::initializer_list<Label> labels,
                           std::span<const double> bounds, std::span<const std::uint64_t> counts, double sum) {
  std::uint64_t cumulative = 0;
  std::string bound;
  for (std::size_t i = 0; i <= bounds.size() && i < counts.size(); ++i) {
    cumulative += counts[i];
    bound.clear();
    append_number(bound, i < bounds.size() ? bounds[i] : INFINITY);
    series(name, "_bucket", labels, "le", bound);
    append_integer(out_, cumulative);
    out_ += '\n';
  }
  series(name, "_sum", labels);
  append_number(out_, sum);
  out_ += '\n';
  series(name, "_count", labels);
  append_integer(out_, cumulative);
  out_ += '\n';
}

}  // namespace keel::metrics
