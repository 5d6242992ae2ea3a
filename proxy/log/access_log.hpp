// The access log: one line per request, combined format (as nginx/Apache) or JSON
// lines. Workers format into their own fixed-size ring (no lock, no allocation in
// steady state); one writer thread moves the rings to the file or stdout, so no
// worker ever waits on disk I/O. A full ring drops the line and counts it.
#pragma once

#include "proxy/config/config.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace keel::log {

// What one line says; views valid during the call only.
struct AccessEntry {
  std::chrono::system_clock::time_point time;  // when the request head was complete
  std::string_view client_ip;
  std::string_view method;
  std::string_view target;
  int version = 11;  // 10 or 11
  int status = 0;    // 0: none sent (the client left first): logged as 499, as nginx does
  std::uint64_t response_bytes = 0;
  std::string_view referer;
  std::string_view user_agent;
  std::string_view host;
  std::string_view pool;
  std::string_view backend;  // empty: answered by keel itself
  std::chrono::nanoseconds duration{0};
};

// Appends one line (with '\n'). Untrusted text is escaped: JSON escapes quotes,
// backslashes and control bytes (and bytes >= 0x80 as \u00XX, so a line is
// always valid JSON); combined escapes '"', '\\' and bytes outside printable
// ASCII as \xHH, as nginx does.
void format_combined(std::string& out, const AccessEntry& entry);
void format_json(std::string& out, const AccessEntry& entry);

// Single producer (a worker), single consumer (the writer thread) byte ring.
class LineRing {
 public:
  explicit LineRing(std::size_t capacity);
  // Producer. All of `line` or nothing (false: not enough room).
  bool push(std::string_view line);
  // Consumer. Appends what is there to `out` and frees it.
  void drain(std::string& out);

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // consumer: bytes taken
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // producer: bytes added
};

// One worker's end of the log. Worker thread only (dropped() any thread).
class AccessLogWriter {
 public:
  AccessLogWriter(config::AccessLogFormat format, std::size_t ring_bytes);
  void write(const AccessEntry& entry);
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  LineRing& ring() { return ring_; }

 private:
  config::AccessLogFormat format_;
  std::string line_;  // reused: no allocation once it has grown to the longest line
  LineRing ring_;
  alignas(64) std::atomic<std::uint64_t> dropped_{0};
};

class AccessLog {
 public:
  static constexpr std::size_t kRingBytes = 1 << 20;  // per worker

  // Opens the file (append, created 0644); throws std::runtime_error naming it.
  AccessLog(const config::AccessLog& settings, std::size_t workers);
  // Stops the writer after writing out what the rings hold.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  AccessLogWriter& worker(std::size_t index) { return *writers_.at(index); }
  // Any thread: the writer reopens the file before its next write (logrotate
  // renamed it: SIGUSR1). No-op for stdout.
  void reopen();
  // Lines dropped because a worker's ring was full, over all workers.
  std::uint64_t dropped() const;

 private:
  void run();
  void open_file();

  config::AccessLog settings_;
  std::vector<std::unique_ptr<AccessLogWriter>> writers_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::atomic<bool> reopen_{false};
  std::mutex mutex_;  // writer thread control only, never taken by workers
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keel::log
