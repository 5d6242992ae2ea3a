// Child processes for process-level tests: keel, keel-echo, anything with a command line.
//
//   EchoProcess echo{"a"};                      // keel-echo on 127.0.0.1:0, bound when this returns
//   TestClient client{echo.address()};
//   ...
//   echo.process().signal(SIGTERM);
//   EXPECT_EQ(echo.process().wait_exit(5s), 0);
//
// A child that is still running when its owner is destroyed is killed with SIGKILL (with
// its whole process group) and reaped. Children also get SIGKILL if the thread that
// started them dies, so a test binary killed by a ctest TIMEOUT leaves nothing behind;
// start children from the test's main thread. A child whose stderr holds a ThreadSanitizer
// report ("WARNING: ThreadSanitizer") fails the current test when its owner is destroyed,
// whatever its exit status: keel runs as a child in many tests, and a race there must not
// pass unnoticed.
#pragma once

#include "tests/support/wait.hpp"

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace keel::test {

// KEEL_BINARY_DIR "/" name: where the build puts keel and keel-echo.
std::string binary_path(std::string_view name);

// "127.0.0.1:41234" from a line such as "listening on 127.0.0.1:41234" (the first word
// after "listening on"), or nothing if the line is not of that form.
std::optional<std::string> listening_address(std::string_view line);

struct ChildOptions {
  std::vector<std::pair<std::string, std::string>> environment;  // added to (or replacing in) ours
  std::string working_directory;                                  // empty: ours
};

class ChildProcess {
 public:
  enum class Output { out, err };

  // Starts `program` (a path; not searched in PATH) with `arguments` (argv[1...]), stdin
  // from /dev/null, stdout and stderr captured. Throws std::system_error if it cannot be
  // started (including exec failure).
  ChildProcess(std::string program, std::vector<std::string> arguments, ChildOptions options = {});
  ~ChildProcess();  // SIGKILL to the process group and reap, if still running

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The first line of the output starting with `prefix` that no earlier call returned,
  // waiting up to `deadline` for it to be printed. Lines are returned without "\n".
  // Nothing if the deadline passes or the output ends first.
  std::optional<std::string> wait_for_line(std::string_view prefix,
                                           std::chrono::milliseconds deadline = kDefaultDeadline,
                                           Output from = Output::out);
  // Everything captured so far (complete and partial lines).
  std::string output(Output from = Output::out) const;

  // Sends `signo` to the child (not its group). False if it has already been reaped.
  bool signal(int signo);
  // The exit code once the child exits, 128 + N if signal N killed it (as a shell
  // reports it); nothing if it is still running at the deadline. Repeatable. Once it
  // returns a status, output() holds everything the child wrote (unless a grandchild
  // keeps the pipes open past the deadline).
  std::optional<int> wait_exit(std::chrono::milliseconds deadline = kDefaultDeadline);
  // Not yet exited (reaps it if it has). Does not block.
  bool is_running();

 private:
  struct Captured {
    void add_line(std::string line) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
      taken.push_back(false);
    }

    std::string text;                // everything read
    std::string partial;             // the line being read
    std::vector<std::string> lines;  // complete lines
    std::vector<bool> taken;         // returned by wait_for_line
    bool ended = false;              // EOF
  };

  void read_output();  // the reader thread
  // Destructor, test thread: ADD_FAILURE with the child's stderr if it holds a report.
  void fail_on_sanitizer_report() const;
  bool try_reap(int options);

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: tells the reader thread to stop
  std::thread reader_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Captured out_;
  Captured err_;
};

// keel-echo on 127.0.0.1:0, started and bound by the time the constructor returns
// (it waits for the "listening on" line; throws std::runtime_error with the child's
// stderr if none comes within the deadline).
class EchoProcess {
 public:
  explicit EchoProcess(std::string id = "echo", std::vector<std::string> extra_arguments = {},
                       std::chrono::milliseconds deadline = kDefaultDeadline);

  const std::string& id() const { return id_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:PORT"
  std::uint16_t port() const { return port_; }
  ChildProcess& process() { return process_; }

 private:
  std::string id_;
  ChildProcess process_;
  std::string address_;
  std::uint16_t port_ = 0;
};

}  // namespace keel::test
