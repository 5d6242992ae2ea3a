#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

namespace keel::control {

// Runs an autoscale `command` with /bin/sh -c and extra environment variables,
// without ever waiting for it: reap() (called from the control thread's
// periodic tick) collects finished children. One run at a time; values given
// while one runs replace each other and start when it ends, so a slow command
// sees the latest recommendation, not a backlog.
class CommandRunner {
 public:
  using Environment = std::map<std::string, std::string>;

  CommandRunner(std::string command, std::string pool);
  // Leaves a running child running (it is reaped by nobody: a short zombie at
  // most, gone when keel exits).
  ~CommandRunner() = default;
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  // Control thread.
  void run(Environment values);
  void reap();
  bool is_running() const { return child_ > 0; }
  const std::string& command() const { return command_; }

 private:
  void start(const Environment& values);

  std::string command_;
  std::string pool_;
  pid_t child_ = -1;
  std::optional<Environment> queued_;
};

}  // namespace keel::control
