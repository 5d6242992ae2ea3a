#include "proxy/control/command_runner.hpp"

#include "proxy/log/log.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

extern char** environ;

namespace keel::control {

CommandRunner::CommandRunner(std::string command, std::string pool)
    : command_(std::move(command)), pool_(std::move(pool)) {}

void CommandRunner::run(Environment values) {
  reap();
  if (is_running()) {
    queued_ = std::move(values);
    return;
  }
  start(values);
}

void CommandRunner::start(const Environment& values) {
  // The environment of keel, with the given variables set (replacing any of the same name).
  std::vector<std::string> entries;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view text(*entry);
    const auto name = text.substr(0, text.find('='));
    if (!values.contains(std::string(name))) entries.emplace_back(text);
  }
  for (const auto& [name, value] : values) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh", flag = "-c", script = command_;
  char* argv[] = {shell.data(), flag.data(), script.data(), nullptr};
  // posix_spawn (vfork-like), never fork(): this process has many threads.
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, envp.data());
  if (error != 0) {
    log::error("pool " + pool_ + ": cannot run the autoscale command: " + std::strerror(error));
    return;
  }
  child_ = pid;
}

void CommandRunner::reap() {
  if (child_ <= 0) return;
  int status = 0;
  const pid_t done = ::waitpid(child_, &status, WNOHANG);
  if (done == 0) return;  // still running
  if (done < 0) {
    // ECHILD: someone else reaped it (or SIGCHLD is ignored); it is gone either way.
    if (errno == EINTR) return;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    log::warn("pool " + pool_ + ": autoscale command exited with status " + std::to_string(WEXITSTATUS(status)));
  } else if (WIFSIGNALED(status)) {
    log::warn("pool " + pool_ + ": autoscale command killed by signal " + std::to_string(WTERMSIG(status)));
  }
  child_ = -1;
  if (queued_) {
    auto next = std::move(*queued_);
    queued_.reset();
    start(next);
  }
}

}  // namespace keel::control
