#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace keel::log {

enum class Level { debug, info, warn, error };
enum class Format { text, json };

// Operational log on stderr, one line per call. Text: "2026-11-23T16:30:49Z warn
// message". JSON: {"time":"2026-11-23T16:30:49.123Z","level":"warn","message":"..."}.
// Safe from any thread: each line is one write. Not for the request path.
// The access log (access_log.hpp) is separate and not affected by any of this.
void write(Level level, std::string_view message);

// Any thread; applies from the next line on (at start and on every reload, from
// the config's `log:` section). Lines below `level` are dropped. The default is
// info, text.
void configure(Level level, Format format);
// Whether a line at `level` would be written: lets a caller skip building a
// message nobody reads.
bool enabled(Level level);

inline void debug(std::string_view message) { write(Level::debug, message); }
inline void info(std::string_view message) { write(Level::info, message); }
inline void warn(std::string_view message) { write(Level::warn, message); }
inline void error(std::string_view message) { write(Level::error, message); }

std::string_view to_string(Level level);
// "debug", "info", "warn" (or "warning"), "error"; nullopt otherwise.
std::optional<Level> parse_level(std::string_view text);

// The whole line write() puts out for `message` at wall-clock time
// `unix_milliseconds`, newline included (the tests' seam).
std::string format_line(Format format, Level level, std::string_view message, long long unix_milliseconds);

}  // namespace keel::log
