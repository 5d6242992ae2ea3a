// The state file loader (read_state_file): JSON text to the persisted pool
// membership, or one error naming every problem. The text goes through a memfd,
// opened by path as keel opens the real file. Checks, besides the sanitizers:
// a state or an error, never both; and a state it accepts survives
// write_state_file and reads back the same (keel never writes a file it would
// refuse at its next start).
#include "proxy/control/state_file.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/check.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>


namespace {

std::string input_path;
std::string written_directory;
std::string written_path;
int input_fd = -1;

bool same(const keel::control::PersistedState& a, const keel::control::PersistedState& b) {
  if (a.pools.size() != b.pools.size()) return false;
  for (auto i = a.pools.begin(), j = b.pools.begin(); i != a.pools.end(); ++i, ++j) {
    if (i->first != j->first || i->second.size() != j->second.size()) return false;
    for (std::size_t k = 0; k < i->second.size(); ++k) {
      const auto& x = i->second[k];
      const auto& y = j->second[k];
      if (x.address != y.address || x.weight != y.weight || x.draining != y.draining) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  input_fd = ::memfd_create("keel-fuzz-state", MFD_CLOEXEC);
  if (input_fd < 0) std::abort();
  input_path = "/proc/self/fd/" + std::to_string(input_fd);
  // tmpfs when there is one: write_state_file fsyncs.
  char dir[] = "/dev/shm/keel-fuzz-state-XXXXXX";
  char fallback[] = "/tmp/keel-fuzz-state-XXXXXX";
  const char* made = ::mkdtemp(dir);
  if (made == nullptr) made = ::mkdtemp(fallback);
  if (made == nullptr) std::abort();
  written_directory = made;
  written_path = written_directory + "/state.json";
  std::atexit([] {
    ::unlink(written_path.c_str());
    ::rmdir(written_directory.c_str());
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (::ftruncate(input_fd, 0) != 0 || ::pwrite(input_fd, data, size, 0) != static_cast<ssize_t>(size))
    std::abort();
  const keel::control::StateLoad load = keel::control::read_state_file(input_path);
  KEEL_FUZZ_CHECK(!load.missing);
  KEEL_FUZZ_CHECK(load.state.has_value() == load.error.empty());
  if (!load.state) {
    KEEL_FUZZ_CHECK(load.error.starts_with("state file " + input_path + ": "));
    return 0;
  }
  // Accepted: writing it must succeed and read back the same state.
  const auto problem = keel::control::write_state_file(written_path, *load.state);
  if (problem) std::fprintf(stderr, "%s\n", problem->c_str());
  KEEL_FUZZ_CHECK(!problem);
  const keel::control::StateLoad again = keel::control::read_state_file(written_path);
  KEEL_FUZZ_CHECK(again.state && same(*load.state, *again.state));
  return 0;
}
