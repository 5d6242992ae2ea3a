#include "tests/support/keel_process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace keel::test {

namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Our environment with `overrides` applied, as "NAME=value" strings.
std::vector<std::string> child_environment(const ChildOptions& options) {
  std::vector<std::string> entries;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view text(*entry);
    const auto name = text.substr(0, text.find('='));
    const bool replaced = std::any_of(options.environment.begin(), options.environment.end(),
                                      [&](const auto& pair) { return pair.first == name; });
    if (!replaced) entries.emplace_back(text);
  }
  for (const auto& [name, value] : options.environment) entries.push_back(name + "=" + value);
  return entries;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

int pidfd_for(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// What ThreadSanitizer prints before each report (scripts/tsan builds keel and keel-echo
// with it). A child's report is otherwise only text in a pipe that nobody reads, and
// with halt_on_error the child just dies, which a test may take for an ordinary failure.
constexpr std::string_view kThreadSanitizerReport = "WARNING: ThreadSanitizer";

// How long the destructor waits for the rest of a finished child's output.
constexpr std::chrono::seconds kOutputDrainDeadline{2};

}  // namespace

std::string binary_path(std::string_view name) {
  return std::string(KEEL_BINARY_DIR) + "/" + std::string(name);
}

std::optional<std::string> listening_address(std::string_view line) {
  constexpr std::string_view kPrefix = "listening on ";
  const auto at = line.find(kPrefix);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = line.substr(at + kPrefix.size());
  rest = rest.substr(0, rest.find_first_of(" \t\r\n"));
  if (rest.empty() || rest.find(':') == std::string_view::npos) return std::nullopt;
  return std::string(rest);
}

ChildProcess::ChildProcess(std::string program, std::vector<std::string> arguments,
                           ChildOptions options) {
  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  for (auto& argument : arguments) argv_strings.push_back(std::move(argument));
  auto env_strings = child_environment(options);
  auto argv = pointers(argv_strings);
  auto envp = pointers(env_strings);

  // Every descriptor is close-on-exec, so a child started concurrently by another thread
  // does not inherit this one's pipes (and keep them open past this child's exit).
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};  // carries errno if exec fails; EOF once exec succeeds
  int null_fd = -1;
  auto close_all = [&] {
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1], &exec_pipe[0],
                    &exec_pipe[1], &null_fd})
      close_fd(*fd);
  };
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    close_all();
    throw_errno(error, "pipe");
  }
  null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const char* directory = options.working_directory.empty() ? nullptr
                                                            : options.working_directory.c_str();

  pid_ = ::fork();
  if (pid_ < 0) {
    const int error = errno;
    close_all();
    throw_errno(error, "fork");
  }
  if (pid_ == 0) {
    // Child: async-signal-safe calls only until exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction standard {};
    standard.sa_handler = SIG_DFL;
    for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT}) ::sigaction(signo, &standard, nullptr);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int error = 0;
    if (directory && ::chdir(directory) != 0) {
      error = errno;
    } else {
      ::execve(argv[0], argv.data(), envp.data());
      error = errno;
    }
    [[maybe_unused]] auto written = ::write(exec_pipe[1], &error, sizeof error);
    ::_exit(127);
  }

  out_fd_ = std::exchange(out_pipe[0], -1);
  err_fd_ = std::exchange(err_pipe[0], -1);
  const int exec_fd = std::exchange(exec_pipe[0], -1);
  close_all();  // the child's ends

  int exec_error = 0;
  ssize_t n = 0;
  do {
    n = ::read(exec_fd, &exec_error, sizeof exec_error);
  } while (n < 0 && errno == EINTR);
  ::close(exec_fd);
  if (n == sizeof exec_error) {
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    close_fd(out_fd_);
    close_fd(err_fd_);
    throw_errno(exec_error, "cannot start " + program);
  }

  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  reader_ = std::thread([this] { read_output(); });
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !try_reap(WNOHANG)) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    try_reap(0);
  }
  if (exit_status_) {
    // Read to the end before stopping the reader, so a report written just before the
    // child died is seen; bounded, as a grandchild may hold the pipes open.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kOutputDrainDeadline, [this] { return out_.ended && err_.ended; });
  }
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  }
  if (reader_.joinable()) reader_.join();
  close_fd(out_fd_);
  close_fd(err_fd_);
  close_fd(wake_fd_);
  fail_on_sanitizer_report();
}

void ChildProcess::fail_on_sanitizer_report() const {
  const std::string err = output(Output::err);
  if (err.find(kThreadSanitizerReport) == std::string::npos) return;
  ADD_FAILURE() << "ThreadSanitizer reported a data race in child process " << pid_
                << "; its stderr:\n" << err;
}

// Reader thread. Collects both outputs until both end or the destructor wakes it.
void ChildProcess::read_output() {
  char bytes[4096];
  bool out_open = true;
  bool err_open = true;
  while (out_open || err_open) {
    pollfd fds[3] = {{out_open ? out_fd_ : -1, POLLIN, 0},
                     {err_open ? err_fd_ : -1, POLLIN, 0},
                     {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, bytes, sizeof bytes);
      if (n < 0 && errno == EINTR) continue;
      Captured& captured = i == 0 ? out_ : err_;
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        captured.ended = true;
        if (!captured.partial.empty()) captured.add_line(std::move(captured.partial));  // no "\n" at the end
        captured.partial.clear();
      } else {
        captured.text.append(bytes, static_cast<std::size_t>(n));
        captured.partial.append(bytes, static_cast<std::size_t>(n));
        for (auto end = captured.partial.find('\n'); end != std::string::npos;
             end = captured.partial.find('\n')) {
          captured.add_line(captured.partial.substr(0, end));
          captured.partial.erase(0, end + 1);
        }
      }
      changed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  out_.ended = true;
  err_.ended = true;
  changed_.notify_all();
}

std::optional<std::string> ChildProcess::wait_for_line(std::string_view prefix,
                                                       std::chrono::milliseconds deadline,
                                                       Output from) {
  std::unique_lock lock(mutex_);
  Captured& captured = from == Output::out ? out_ : err_;
  std::optional<std::string> found;
  auto take = [&] {
    for (std::size_t i = 0; i < captured.lines.size(); ++i) {
      if (!captured.taken[i] && captured.lines[i].starts_with(prefix)) {
        captured.taken[i] = true;
        found = captured.lines[i];
        return true;
      }
    }
    return captured.ended;
  };
  changed_.wait_for(lock, deadline, take);
  return found;
}

std::string ChildProcess::output(Output from) const {
  std::lock_guard lock(mutex_);
  return from == Output::out ? out_.text : err_.text;
}

bool ChildProcess::signal(int signo) {
  if (pid_ <= 0 || exit_status_) return false;
  return ::kill(pid_, signo) == 0;
}

bool ChildProcess::try_reap(int options) {
  if (exit_status_) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t result = 0;
  do {
    result = ::waitpid(pid_, &status, options);
  } while (result < 0 && errno == EINTR);
  if (result != pid_) return false;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds deadline) {
  const Deadline until(deadline);
  if (!try_reap(WNOHANG) && pid_ > 0) {
    // A pidfd becomes readable when the child exits: an event, not a poll loop.
    if (const int pidfd = pidfd_for(pid_); pidfd >= 0) {
      pollfd fd{pidfd, POLLIN, 0};
      while (::poll(&fd, 1, static_cast<int>(until.remaining().count())) < 0 && errno == EINTR) {
      }
      ::close(pidfd);
      try_reap(WNOHANG);
    } else {
      wait_until([this] { return try_reap(WNOHANG); }, until.remaining());
    }
  }
  if (exit_status_) {
    // The reader thread may still be behind: let it reach the end of both outputs, so
    // output() is complete once the exit is reported.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, until.remaining(), [this] { return out_.ended && err_.ended; });
  }
  return exit_status_;
}

bool ChildProcess::is_running() { return pid_ > 0 && !try_reap(WNOHANG); }

EchoProcess::EchoProcess(std::string id, std::vector<std::string> extra_arguments,
                         std::chrono::milliseconds deadline)
    : id_(std::move(id)), process_(binary_path("keel-echo"), [&] {
        std::vector<std::string> arguments = {"--listen", "127.0.0.1:0", "--id", id_};
        for (auto& argument : extra_arguments) arguments.push_back(std::move(argument));
        return arguments;
      }()) {
  const auto line = process_.wait_for_line("listening on ", deadline);
  const auto address = line ? listening_address(*line) : std::nullopt;
  if (!address) {
    throw std::runtime_error("keel-echo did not report its address; stderr: " +
                             process_.output(ChildProcess::Output::err));
  }
  address_ = *address;
  port_ = static_cast<std::uint16_t>(std::stoul(address_.substr(address_.rfind(':') + 1)));
}

}  // namespace keel::test
