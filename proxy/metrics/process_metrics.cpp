#include "proxy/metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <algorithm>
#include <string>

namespace keel::metrics {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

std::uint64_t count_open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  std::uint64_t count = 0;
  while (const dirent* entry = readdir(dir))
    if (entry->d_name[0] != '.') ++count;
  closedir(dir);
  return count > 0 ? count - 1 : 0;  // not the descriptor opendir itself holds
}

}  // namespace

std::optional<StatFields> parse_proc_stat(std::string_view stat) {
  // "PID (COMM) STATE ..." where COMM may hold spaces and parentheses: fields
  // are counted from after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  stat.remove_prefix(close + 1);
  // Field numbers (proc(5)), 1-based: 3 state ... 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss.
  std::uint64_t values[25] = {};
  bool seen[25] = {};
  int field = 3;
  std::size_t pos = 0;
  while (pos < stat.size() && field <= 24) {
    while (pos < stat.size() && (stat[pos] == ' ' || stat[pos] == '\n')) ++pos;
    const auto end = std::min(stat.find_first_of(" \n", pos), stat.size());
    const auto token = stat.substr(pos, end - pos);
    if (token.empty()) break;
    if (field == 14 || field == 15 || field == 22 || field == 23 || field == 24) {
      if (!parse_u64(token, values[field])) return std::nullopt;
      seen[field] = true;
    }
    ++field;
    pos = end;
  }
  if (!seen[14] || !seen[15] || !seen[22] || !seen[23] || !seen[24]) return std::nullopt;
  return StatFields{.utime_ticks = values[14],
                    .stime_ticks = values[15],
                    .start_ticks = values[22],
                    .virtual_bytes = values[23],
                    .resident_pages = values[24]};
}

std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat) {
  std::size_t pos = 0;
  while (pos < proc_stat.size()) {
    auto end = proc_stat.find('\n', pos);
    if (end == std::string_view::npos) end = proc_stat.size();
    const auto line = proc_stat.substr(pos, end - pos);
    if (line.starts_with("btime ")) {
      std::uint64_t value = 0;
      if (parse_u64(line.substr(6), value)) return value;
      return std::nullopt;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

ProcessSample sample_process() {
  ProcessSample sample;
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  if (const auto stat = parse_proc_stat(read_file("/proc/self/stat")); stat && ticks > 0) {
    sample.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / static_cast<double>(ticks);
    sample.virtual_bytes = stat->virtual_bytes;
    sample.resident_bytes = stat->resident_pages * static_cast<std::uint64_t>(page > 0 ? page : 4096);
    if (const auto boot = parse_boot_time(read_file("/proc/stat")))
      sample.start_time_seconds =
          static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / static_cast<double>(ticks);
  }
  sample.open_fds = count_open_fds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
    sample.max_fds = limit.rlim_cur == RLIM_INFINITY ? 0 : static_cast<std::uint64_t>(limit.rlim_cur);
  return sample;
}

void render_process(Exposition& out, const ProcessSample& sample) {
  out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  out.sample("process_cpu_seconds_total", {}, sample.cpu_seconds);
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out.sample("process_resident_memory_bytes", {}, sample.resident_bytes);
  out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  out.sample("process_virtual_memory_bytes", {}, sample.virtual_bytes);
  out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
  out.sample("process_start_time_seconds", {}, sample.start_time_seconds);
  out.family("process_open_fds", "gauge", "Number of open file descriptors.");
  out.sample("process_open_fds", {}, sample.open_fds);
  out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  out.sample("process_max_fds", {}, sample.max_fds);
}

}  // namespace keel::metrics
