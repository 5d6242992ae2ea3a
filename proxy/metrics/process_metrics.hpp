// The standard process_* metrics of Prometheus client libraries, read from
// /proc/self: what operators alert on for CPU, memory and file descriptors.
#pragma once

#include "proxy/metrics/exposition.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace keel::metrics {

struct ProcessSample {
  double cpu_seconds = 0;        // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;      // soft RLIMIT_NOFILE
};

// Fields of /proc/PID/stat needed above; `stat` is its content. nullopt when it
// does not parse. `ticks_per_second` and `page_size` from sysconf, `boot_time`
// from the btime line of /proc/stat.
struct StatFields {
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;  // since boot
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_pages = 0;
};
std::optional<StatFields> parse_proc_stat(std::string_view stat);
// The btime value of /proc/stat; nullopt when absent.
std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat);

// Reads /proc/self now; fields it cannot read stay 0.
ProcessSample sample_process();

void render_process(Exposition& out, const ProcessSample& sample);

}  // namespace keel::metrics
