// Real HTTP/2 clients for the integration tests: curl, nghttp (Debian
// nghttp2-client) and tests/integration/http2/h2_client.py (python3-h2), each
// a child process bounded in time.
#pragma once

#include "tests/support/keel_process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace keel::test {

struct ClientRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline ClientRun run_client(const std::string& program, std::vector<std::string> arguments,
                            std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  ChildProcess child(program, std::move(arguments));
  ClientRun run;
  const auto status = child.wait_exit(deadline);
  run.exit_code = status ? *status : -1;
  run.out = child.output();
  run.err = child.output(ChildProcess::Output::err);
  return run;
}

inline std::string h2_client_script() { return std::string(KEEL_SOURCE_DIR) + "/tests/integration/http2/h2_client.py"; }

// h2_client.py MODE ADDRESS [ARG]: its "key value" lines.
inline std::map<std::string, std::string> h2_client(const std::string& mode, const std::string& address,
                                                   const std::string& argument = {}) {
  std::vector<std::string> arguments = {h2_client_script(), mode, address};
  if (!argument.empty()) arguments.push_back(argument);
  const ClientRun run = run_client("/usr/bin/python3", arguments);
  std::map<std::string, std::string> result;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    result[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(result.count("end")) << run.out << run.err;
  return result;
}

}  // namespace keel::test
