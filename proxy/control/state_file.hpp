#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace keel::control {

inline constexpr std::int64_t kStateFileVersion = 1;

// What the admin API changed and a restart must keep: membership, weight and
// draining. Health and counters are re-learned, so they are not persisted.
struct PersistedBackend {
  std::string address;  // as configured or added: "127.0.0.1:8081", "[::1]:8082"
  std::uint32_t weight = 1;
  bool draining = false;
};

struct PersistedState {
  std::map<std::string, std::vector<PersistedBackend>> pools;  // by pool name; backends in order
};

// Control thread; blocks on three fsyncs. Writes `path + ".tmp"`, fsyncs it,
// renames it over `path` and fsyncs the directory, so after a crash the file
// is either the old state or the new one, whole. Returns nullopt once the
// new state is durable, else why not (the file may then hold either state;
// the next successful write makes it current). A state that
// read_state_file would refuse (weight outside 1..1000, duplicate address,
// malformed address) is refused here too, before anything is written.
std::optional<std::string> write_state_file(const std::string& path, const PersistedState& state);

struct StateLoad {
  std::optional<PersistedState> state;  // set when the file was read and valid
  bool missing = false;                 // no file: nothing persisted yet, not an error
  std::string error;                    // names the file and every problem found; empty on success
};

// Control thread. Strict, like the config: unknown keys, wrong types and
// out-of-range values make the whole file an error rather than being dropped.
// Addresses are checked as host:port; resolving them is the caller's job.
StateLoad read_state_file(const std::string& path);

// read_state_file for a caller that cannot go on without a usable file: nullopt
// when `path` is empty or there is no file yet; throws std::runtime_error with
// StateLoad::error when the file is unusable.
std::optional<PersistedState> load_state_file(const std::string& path);

}  // namespace keel::control
