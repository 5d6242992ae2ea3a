#include "proxy/log/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace keel::log {
namespace {

// Read on every call from any thread, written by the control thread on a
// reload: relaxed atomics suffice (a line racing a reload may use either setting).
std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::text};

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at text[i], or 0 if the bytes
// there are not one (overlong forms, surrogates and values past U+10FFFF included).
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return length;
}

// A JSON string. Valid UTF-8 passes through; any other byte becomes \u00XX,
// so a line is valid JSON whatever a message quotes (a client's request target).
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      if (const std::size_t length = utf8_sequence(text, i)) {
        out.append(text.substr(i, length));
        i += length;
        continue;
      }
    }
    ++i;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (byte < 0x20 || byte >= 0x7F) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += c;
    }
  }
  out += '"';
}

// "2026-11-23T16:30:49Z", or with ".123" before the Z.
void append_time(std::string& out, long long unix_milliseconds, bool with_milliseconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_milliseconds / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  const auto length = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  out.append(stamp, length);
  if (with_milliseconds) {
    const auto millis = static_cast<unsigned>(unix_milliseconds % 1000);
    out += '.';
    out += static_cast<char>('0' + millis / 100);
    out += static_cast<char>('0' + millis / 10 % 10);
    out += static_cast<char>('0' + millis % 10);
  }
  out += 'Z';
}

}  // namespace

std::string_view to_string(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn" || text == "warning") return Level::warn;
  if (text == "error") return Level::error;
  return std::nullopt;
}

void configure(Level level, Format format) {
  g_level.store(level, std::memory_order_relaxed);
  g_format.store(format, std::memory_order_relaxed);
}

bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

std::string format_line(Format format, Level level, std::string_view message, long long unix_milliseconds) {
  std::string line;
  line.reserve(message.size() + 64);
  if (format == Format::json) {
    line += R"({"time":")";
    append_time(line, unix_milliseconds, true);
    line += R"(","level":")";
    line += to_string(level);
    line += R"(","message":)";
    append_json_string(line, message);
    line += '}';
  } else {
    append_time(line, unix_milliseconds, false);
    line += ' ';
    line += to_string(level);
    line += ' ';
    line += message;
  }
  line += '\n';
  return line;
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  const std::string line = format_line(g_format.load(std::memory_order_relaxed), level, message, now.count());
  // One write per line keeps lines from different threads whole.
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace keel::log
