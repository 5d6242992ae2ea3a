#pragma once

#include <string_view>

namespace keel::log {

enum class Level { debug, info, warn, error };

// Operational log on stderr, one line per call ("2026-11-23T16:30:49Z warn message").
// Safe from any thread: each line is one write. Not for the request path.
void write(Level level, std::string_view message);

inline void info(std::string_view message) { write(Level::info, message); }
inline void warn(std::string_view message) { write(Level::warn, message); }
inline void error(std::string_view message) { write(Level::error, message); }

}  // namespace keel::log
