// KEEL_FUZZ_CHECK: an invariant of the code under fuzzing. A broken one aborts,
// so that libFuzzer keeps the input as a crash. The message goes both to stderr
// and to the sanitizers' report stream, which stays open under -close_fd_mask=2
// (used for targets that log through stderr).
#pragma once

#include <sanitizer/common_interface_defs.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace keel::fuzz {

[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  const std::string message =
      std::string("fuzz invariant broken at ") + file + ":" + std::to_string(line) + ": " + what;
  std::fprintf(stderr, "%s\n", message.c_str());
  __sanitizer_report_error_summary(message.c_str());
  std::abort();
}

}  // namespace keel::fuzz

#define KEEL_FUZZ_CHECK(condition) \
  ((condition) ? void(0) : ::keel::fuzz::broken(#condition, __FILE__, __LINE__))
