#include "proxy/log/log.hpp"

#include <unistd.h>

#include <ctime>
#include <string>

namespace keel::log {
namespace {
const char* name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}
}  // namespace

void write(Level level, std::string_view message) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  const auto stamp_length = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::string line;
  line.reserve(stamp_length + message.size() + 16);
  line.append(stamp, stamp_length).append(" ").append(name(level)).append(" ").append(message);
  line.push_back('\n');
  // One write per line keeps lines from different threads whole.
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace keel::log
