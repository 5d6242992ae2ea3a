// The checked accessors of the YAML walk: each reads one node against the
// schema and reports what is wrong with it, with its place.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <system_error>

namespace keel::config::detail {
namespace {

using namespace std::chrono_literals;

// Deadlines are steady_clock::now() + timeout in nanoseconds; a day keeps that
// far from overflow and is longer than any sensible timeout.
constexpr Milliseconds kMaxDuration = 24h;

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string item_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string in_path(const std::string& path) { return path.empty() ? "at the top level" : "in " + path; }

std::string range_text(std::int64_t min, std::int64_t max) {
  if (max == kUnbounded) return "at least " + std::to_string(min);
  return "between " + std::to_string(min) + " and " + std::to_string(max);
}

// A value quoted in a message, with control characters escaped ("\r", "\x1B") so
// that it cannot break the FILE:LINE:COL line it is printed on.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += c;
    }
  }
  return out;
}

// What to write instead of an unknown key: the close ones, else every valid key
// (a newcomer should not have to guess them).
std::string hint(std::string_view name, std::initializer_list<std::string_view> known) {
  if (auto suggestion = did_you_mean(name, known); !suggestion.empty()) return suggestion;
  std::string all;
  for (const std::string_view key : known) {
    all += all.empty() ? "; valid keys: " : ", ";
    all += key;
  }
  return all;
}

bool contains(std::initializer_list<std::string_view> list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

}  // namespace

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return node.Tag() == "!" ? "\"" + node.Scalar() + "\" (a quoted string)" : "'" + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

std::string one_of(const std::vector<std::string_view>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

bool is_plain_integer(const YAML::Node& node) {
  if (!node.IsScalar() || node.Tag() == "!") return false;
  std::string_view text = node.Scalar();
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void Loader::error(const YAML::Mark& mark, std::string message) {
  const bool known = !mark.is_null();
  errors_.push_back({.file = file_,
                     .line = known ? mark.line + 1 : 0,
                     .column = known ? mark.column + 1 : 0,
                     .message = std::move(message)});
}

void Loader::warning(const YAML::Mark& mark, std::string message) {
  const bool known = !mark.is_null();
  warnings_.push_back({.file = file_,
                       .line = known ? mark.line + 1 : 0,
                       .column = known ? mark.column + 1 : 0,
                       .message = "warning: " + std::move(message)});
}

LoadResult Loader::result() && {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  LoadResult result;
  if (errors_.empty()) result.config = std::move(config_);
  result.errors = std::move(errors_);
  result.warnings = std::move(warnings_);
  return result;
}

std::optional<Mapping> Loader::mapping(const Value& value, const Keys& keys) {
  if (!value.node.IsMap()) {
    error(value.mark, "expected a mapping " +
                          (value.path.empty() ? "at the top level" : "for " + value.path) + ", got " +
                          describe(value.node));
    return std::nullopt;
  }
  Mapping result(value.mark, value.path);
  std::map<std::string, YAML::Mark, std::less<>> seen;
  for (const auto& entry : value.node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      error(key.Mark(), "expected a key " + in_path(value.path) + ", got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = child_path(value.path, name);
    if (const auto first = seen.find(name); first != seen.end()) {
      error(key.Mark(), "duplicate key '" + name + "' " + in_path(value.path) + " (first at line " +
                            std::to_string(first->second.line + 1) + ")");
      continue;
    }
    seen.emplace(name, key.Mark());
    if (contains(keys.unsupported, name)) {
      error(key.Mark(), "'" + name + "' is not supported yet (" + path + ")");
      continue;
    }
    if (!contains(keys.known, name)) {
      error(key.Mark(), "unknown key '" + printable(name) + "' " + in_path(value.path) + hint(name, keys.known));
      continue;
    }
    const YAML::Node& node = entry.second;
    result.add(name, Value{node, node.IsNull() ? key.Mark() : node.Mark(), path});
  }
  return result;
}

std::optional<Value> Loader::require(const Mapping& mapping, std::string_view key) {
  if (const Value* value = mapping.find(key)) return *value;
  error(mapping.mark(), "missing required key '" + std::string(key) + "' " + in_path(mapping.path()));
  return std::nullopt;
}

std::optional<std::vector<Value>> Loader::list(const Value& value, bool may_be_empty) {
  if (!value.node.IsSequence()) {
    error(value.mark, "expected a list for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  if (value.node.size() == 0 && !may_be_empty) {
    error(value.mark, value.path + " must not be empty");
    return std::nullopt;
  }
  std::vector<Value> items;
  items.reserve(value.node.size());
  for (const auto& node : value.node)
    items.push_back(
        Value{node, node.IsNull() ? value.mark : node.Mark(), item_path(value.path, items.size())});
  return items;
}

std::optional<std::string> Loader::string(const Value& value) {
  if (!value.node.IsScalar()) {
    error(value.mark, "expected a string for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  return value.node.Scalar();
}

std::optional<std::int64_t> Loader::integer(const Value& value, std::int64_t min, std::int64_t max) {
  if (!is_plain_integer(value.node)) {
    error(value.mark, "expected an integer for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  const char* begin = text.data() + (text.front() == '+' ? 1 : 0);
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), number);
  if (ec != std::errc{} || end != text.data() + text.size() || number < min || number > max) {
    error(value.mark, value.path + " must be " + range_text(min, max) + ", got " + text);
    return std::nullopt;
  }
  return number;
}

std::optional<Milliseconds> Loader::duration(const Value& value, bool may_be_zero) {
  if (!value.node.IsScalar()) {
    error(value.mark, "expected a duration string for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  const auto parsed = parse_duration(text);
  if (!parsed) {
    const bool bare_number = !text.empty() && text.find_first_not_of("0123456789.") == std::string::npos;
    const std::string guess = duration_suggestion(text);
    if (bare_number)
      error(value.mark, "duration " + text + " for " + value.path + " needs a unit (ms, s, m or h)" +
                            (guess.empty() ? std::string() : "; did you mean " + guess + "?"));
    else if (!guess.empty())
      error(value.mark, "invalid duration '" + printable(text) + "' for " + value.path + "; did you mean " + guess + "?");
    else
      error(value.mark,
            "invalid duration '" + printable(text) + "' for " + value.path +
                ": expected a number and a unit ms, s, m or h, in whole milliseconds, e.g. '250ms' "
                "or '1.5s'");
    return std::nullopt;
  }
  if (*parsed == Milliseconds::zero() && !may_be_zero) {
    error(value.mark, value.path + " must be greater than 0, got " + text);
    return std::nullopt;
  }
  if (*parsed > kMaxDuration) {
    error(value.mark, value.path + " must be at most 24h, got " + text);
    return std::nullopt;
  }
  return parsed;
}

std::optional<Address> Loader::address(const Value& value, bool is_listener) {
  const auto text = string(value);
  if (!text) return std::nullopt;
  std::string problem;
  auto parsed = parse_address(*text, is_listener, problem);
  if (!parsed) error(value.mark, "invalid address '" + printable(*text) + "' for " + value.path + ": " + problem);
  return parsed;
}

}  // namespace keel::config::detail
