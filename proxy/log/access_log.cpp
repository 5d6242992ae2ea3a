#include "proxy/log/access_log.hpp"

#include "proxy/log/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace keel::log {
namespace {

constexpr auto kWriterPeriod = std::chrono::milliseconds(20);
constexpr char kHex[] = "0123456789abcdef";

void append_uint(std::string& out, std::uint64_t value, int min_digits = 1) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  for (int pad = min_digits - static_cast<int>(end - buffer); pad > 0; --pad) out += '0';
  out.append(buffer, end);
}

// UTC calendar fields without gmtime_r, which takes glibc's timezone lock.
struct Civil {
  std::int64_t year;
  unsigned month, day, hour, minute, second, millisecond;
};

Civil to_civil(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  std::int64_t days = ms >= 0 ? ms / 86'400'000 : (ms - 86'399'999) / 86'400'000;
  const std::int64_t in_day = ms - days * 86'400'000;
  // Days to civil date (H. Hinnant's algorithm).
  days += 719'468;
  const std::int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
  const auto doe = static_cast<unsigned>(days - era * 146'097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
  return {year,
          month,
          day,
          static_cast<unsigned>(in_day / 3'600'000),
          static_cast<unsigned>(in_day / 60'000 % 60),
          static_cast<unsigned>(in_day / 1000 % 60),
          static_cast<unsigned>(in_day % 1000)};
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      // Bytes, not characters: a request line is not promised to be UTF-8, and a
      // line must stay valid JSON whatever the client sent.
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_combined_text(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += '-';
    return;
  }
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    } else {
      out += c;
    }
  }
}

std::string_view protocol(int version) {
  return version == 10 ? "HTTP/1.0" : version == 20 ? "HTTP/2.0" : "HTTP/1.1";
}

int logged_status(int status) { return status != 0 ? status : 499; }

}  // namespace

void format_combined(std::string& out, const AccessEntry& entry) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const Civil t = to_civil(entry.time);
  append_combined_text(out, entry.client_ip);
  out += " - - [";
  append_uint(out, t.day, 2);
  out += '/';
  out += kMonths[t.month - 1];
  out += '/';
  append_uint(out, static_cast<std::uint64_t>(t.year), 4);
  out += ':';
  append_uint(out, t.hour, 2);
  out += ':';
  append_uint(out, t.minute, 2);
  out += ':';
  append_uint(out, t.second, 2);
  out += " +0000] \"";
  append_combined_text(out, entry.method);
  out += ' ';
  append_combined_text(out, entry.target);
  out += ' ';
  out += protocol(entry.version);
  out += "\" ";
  append_uint(out, static_cast<std::uint64_t>(logged_status(entry.status)));
  out += ' ';
  append_uint(out, entry.response_bytes);
  out += " \"";
  append_combined_text(out, entry.referer);
  out += "\" \"";
  append_combined_text(out, entry.user_agent);
  out += "\"\n";
}

void format_json(std::string& out, const AccessEntry& entry) {
  const Civil t = to_civil(entry.time);
  out += "{\"time\":\"";
  append_uint(out, static_cast<std::uint64_t>(t.year), 4);
  out += '-';
  append_uint(out, t.month, 2);
  out += '-';
  append_uint(out, t.day, 2);
  out += 'T';
  append_uint(out, t.hour, 2);
  out += ':';
  append_uint(out, t.minute, 2);
  out += ':';
  append_uint(out, t.second, 2);
  out += '.';
  append_uint(out, t.millisecond, 3);
  out += "Z\",\"client\":";
  append_json_string(out, entry.client_ip);
  out += ",\"method\":";
  append_json_string(out, entry.method);
  out += ",\"target\":";
  append_json_string(out, entry.target);
  out += ",\"protocol\":\"";
  out += protocol(entry.version);
  out += "\",\"status\":";
  append_uint(out, static_cast<std::uint64_t>(logged_status(entry.status)));
  out += ",\"bytes_sent\":";
  append_uint(out, entry.response_bytes);
  out += ",\"duration_us\":";
  append_uint(out, static_cast<std::uint64_t>(std::max<std::int64_t>(0, entry.duration.count() / 1000)));
  out += ",\"host\":";
  append_json_string(out, entry.host);
  out += ",\"referer\":";
  append_json_string(out, entry.referer);
  out += ",\"user_agent\":";
  append_json_string(out, entry.user_agent);
  out += ",\"pool\":";
  append_json_string(out, entry.pool);
  out += ",\"backend\":";
  append_json_string(out, entry.backend);
  out += "}\n";
}

LineRing::LineRing(std::size_t capacity) : data_(std::make_unique<char[]>(capacity)), capacity_(capacity) {}

bool LineRing::push(std::string_view line) {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = head_.load(std::memory_order_acquire);
  if (line.size() > capacity_ - (tail - head)) return false;
  const std::size_t at = tail % capacity_;
  const std::size_t first = std::min(line.size(), capacity_ - at);
  std::memcpy(data_.get() + at, line.data(), first);
  std::memcpy(data_.get(), line.data() + first, line.size() - first);
  tail_.store(tail + line.size(), std::memory_order_release);
  return true;
}

void LineRing::drain(std::string& out) {
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  const std::uint64_t tail = tail_.load(std::memory_order_acquire);
  const std::size_t size = tail - head;
  if (size == 0) return;
  const std::size_t at = head % capacity_;
  const std::size_t first = std::min(size, capacity_ - at);
  out.append(data_.get() + at, first);
  out.append(data_.get(), size - first);
  head_.store(tail, std::memory_order_release);
}

AccessLogWriter::AccessLogWriter(config::AccessLogFormat format, std::size_t ring_bytes)
    : format_(format), ring_(ring_bytes) {
  line_.reserve(1024);
}

void AccessLogWriter::write(const AccessEntry& entry) {
  line_.clear();
  if (format_ == config::AccessLogFormat::json)
    format_json(line_, entry);
  else
    format_combined(line_, entry);
  if (!ring_.push(line_)) dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

AccessLog::AccessLog(const config::AccessLog& settings, std::size_t workers) : settings_(settings) {
  open_file();
  for (std::size_t i = 0; i < workers; ++i)
    writers_.push_back(std::make_unique<AccessLogWriter>(settings_.format, kRingBytes));
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (owns_fd_) ::close(fd_);
}

void AccessLog::open_file() {
  if (settings_.path == "stdout") {
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
    return;
  }
  const int fd = ::open(settings_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const std::string message = "cannot open access_log " + settings_.path + ": " + std::strerror(errno);
    if (fd_ < 0) throw std::runtime_error(message);
    log::error(message + "; still writing to the previous file");
    return;
  }
  if (owns_fd_) ::close(fd_);
  fd_ = fd;
  owns_fd_ = true;
}

void AccessLog::reopen() {
  reopen_.store(true, std::memory_order_relaxed);
  wake_.notify_all();
}

std::uint64_t AccessLog::dropped() const {
  std::uint64_t total = 0;
  for (const auto& writer : writers_) total += writer->dropped();
  return total;
}

// Writer thread: every kWriterPeriod, or at once on reopen/stop, moves every
// ring to the file. A write error is logged once per run of errors; lines are
// lost rather than held back.
void AccessLog::run() {
  std::string batch;
  batch.reserve(kRingBytes);
  bool failing = false;
  for (;;) {
    bool stop;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kWriterPeriod,
                     [&] { return stopping_ || reopen_.load(std::memory_order_relaxed); });
      stop = stopping_;
    }
    if (reopen_.exchange(false)) {
      open_file();
      log::info("access_log " + settings_.path + " reopened");
    }
    for (auto& writer : writers_) {
      batch.clear();
      writer->ring().drain(batch);
      std::size_t done = 0;
      while (done < batch.size()) {
        const auto written = ::write(fd_, batch.data() + done, batch.size() - done);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
          if (!failing) log::error("access_log " + settings_.path + ": write failed: " + std::strerror(errno));
          failing = true;
          break;
        }
        failing = false;
        done += static_cast<std::size_t>(written);
      }
    }
    if (stop) return;
  }
}

}  // namespace keel::log
