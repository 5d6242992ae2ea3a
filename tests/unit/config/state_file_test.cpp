#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "proxy/control/state_file.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::control {
namespace {

using config::TemporaryDirectory;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> directory_entries(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

PersistedState sample_state() {
  PersistedState state;
  state.pools["web"] = {{.address = "127.0.0.1:8081", .weight = 1, .draining = false},
                        {.address = "[::1]:8082", .weight = 1'000, .draining = true},
                        {.address = "app1.internal:80", .weight = 3, .draining = false}};
  state.pools["api"] = {};
  state.pools["quote\"and\\slash"] = {{.address = "10.0.0.1:1", .weight = 2, .draining = false}};
  return state;
}

void expect_same(const PersistedState& actual, const PersistedState& expected) {
  ASSERT_EQ(actual.pools.size(), expected.pools.size());
  for (const auto& [name, backends] : expected.pools) {
    ASSERT_TRUE(actual.pools.contains(name)) << name;
    const auto& got = actual.pools.at(name);
    ASSERT_EQ(got.size(), backends.size()) << name;
    for (std::size_t i = 0; i < backends.size(); ++i) {
      EXPECT_EQ(got[i].address, backends[i].address) << name << "[" << i << "]";
      EXPECT_EQ(got[i].weight, backends[i].weight) << name << "[" << i << "]";
      EXPECT_EQ(got[i].draining, backends[i].draining) << name << "[" << i << "]";
    }
  }
}

TEST(StateFile, RoundTrip) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  const PersistedState state = sample_state();
  ASSERT_EQ(write_state_file(path, state), std::nullopt);
  const StateLoad loaded = read_state_file(path);
  EXPECT_EQ(loaded.error, "");
  EXPECT_FALSE(loaded.missing);
  ASSERT_TRUE(loaded.state);
  expect_same(*loaded.state, state);
}

TEST(StateFile, EmptyStateRoundTrips) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  ASSERT_EQ(write_state_file(path, PersistedState{}), std::nullopt);
  EXPECT_EQ(read_all(path), "{\n  \"version\": 1,\n  \"pools\": {}\n}\n");
  const StateLoad loaded = read_state_file(path);
  ASSERT_TRUE(loaded.state) << loaded.error;
  EXPECT_TRUE(loaded.state->pools.empty());
}

// The format is part of the contract with operators who read or back it up:
// stable order, one backend a line.
TEST(StateFile, WritesStableReadableJson) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  PersistedState state;
  state.pools["web"] = {{.address = "127.0.0.1:8081", .weight = 1, .draining = false},
                        {.address = "127.0.0.1:8082", .weight = 5, .draining = true}};
  state.pools["api"] = {};
  ASSERT_EQ(write_state_file(path, state), std::nullopt);
  EXPECT_EQ(read_all(path),
            "{\n"
            "  \"version\": 1,\n"
            "  \"pools\": {\n"
            "    \"api\": [],\n"
            "    \"web\": [\n"
            "      {\"address\": \"127.0.0.1:8081\", \"weight\": 1, \"state\": \"active\"},\n"
            "      {\"address\": \"127.0.0.1:8082\", \"weight\": 5, \"state\": \"draining\"}\n"
            "    ]\n"
            "  }\n"
            "}\n");
}

TEST(StateFile, ReplacesAnExistingFileWholeAndLeavesNoTemporary) {
  const TemporaryDirectory directory;
  const std::string path = directory.file("state.json", std::string(100'000, ' ') + "{\"stale\": true}");
  PersistedState state;
  state.pools["web"] = {{.address = "127.0.0.1:8081", .weight = 1, .draining = false}};
  ASSERT_EQ(write_state_file(path, state), std::nullopt);
  const std::string written = read_all(path);
  EXPECT_EQ(written.find("stale"), std::string::npos);
  EXPECT_LT(written.size(), 1'000u);
  EXPECT_EQ(directory_entries(directory.path()), std::vector<std::string>{"state.json"});
  const StateLoad loaded = read_state_file(path);
  ASSERT_TRUE(loaded.state) << loaded.error;
  expect_same(*loaded.state, state);
}

TEST(StateFile, LeftoverTemporaryFromACrashIsOverwritten) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  directory.file("state.json.tmp", "half a fil");
  ASSERT_EQ(write_state_file(path, sample_state()), std::nullopt);
  EXPECT_EQ(directory_entries(directory.path()), std::vector<std::string>{"state.json"});
  EXPECT_TRUE(read_state_file(path).state);
}

TEST(StateFile, WriteIntoAMissingDirectoryFails) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/missing/state.json";
  const auto error = write_state_file(path, sample_state());
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "cannot write state file " + path + ": cannot create " + path +
                        ".tmp: No such file or directory");
  EXPECT_FALSE(std::filesystem::exists(directory.path() + "/missing"));
}

// Root writes into a read-only directory anyway, so as root the write runs in
// a child process that has become nobody.
std::optional<std::string> write_as_unprivileged(const std::string& path, const PersistedState& state) {
  if (::geteuid() != 0) return write_state_file(path, state);
  int pipe_ends[2];
  if (::pipe(pipe_ends) != 0) return "test setup: pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_ends[0]);
    constexpr uid_t kNobody = 65'534;
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(2);
    const auto error = write_state_file(path, state);
    const std::string reply = error ? "E" + *error : "OK";
    const bool sent = ::write(pipe_ends[1], reply.data(), reply.size()) == static_cast<ssize_t>(reply.size());
    ::_exit(sent ? 0 : 3);
  }
  ::close(pipe_ends[1]);
  std::string reply;
  char buffer[4'096];
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;)
    reply.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_ends[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "test setup: the unprivileged child failed";
  if (reply == "OK") return std::nullopt;
  return reply.substr(1);
}

TEST(StateFile, WriteIntoAReadOnlyDirectoryFails) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  ASSERT_EQ(write_state_file(path, sample_state()), std::nullopt);
  std::filesystem::permissions(directory.path(),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
                                   std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
                                   std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
  PersistedState changed;
  changed.pools["web"] = {};
  const auto error = write_as_unprivileged(path, changed);
  ASSERT_TRUE(error);
  EXPECT_EQ(*error,
            "cannot write state file " + path + ": cannot create " + path + ".tmp: Permission denied");
  // The old state is untouched.
  const StateLoad loaded = read_state_file(path);
  ASSERT_TRUE(loaded.state) << loaded.error;
  expect_same(*loaded.state, sample_state());
  EXPECT_EQ(directory_entries(directory.path()), std::vector<std::string>{"state.json"});
}

// /proc refuses new files even to root, so this runs everywhere.
TEST(StateFile, WriteWhereNoFileCanBeCreatedFails) {
  const auto error = write_state_file("/proc/keel-state-test.json", sample_state());
  ASSERT_TRUE(error);
  EXPECT_TRUE(
      error->starts_with("cannot write state file /proc/keel-state-test.json: cannot create "
                         "/proc/keel-state-test.json.tmp: "))
      << *error;
}

TEST(StateFile, RenameOverADirectoryFailsAndCleansUp) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  std::filesystem::create_directory(path);
  std::filesystem::create_directory(path + "/occupied");
  const auto error = write_state_file(path, sample_state());
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->starts_with("cannot write state file " + path + ": cannot rename " + path + ".tmp: "))
      << *error;
  EXPECT_EQ(directory_entries(directory.path()), std::vector<std::string>{"state.json"});
}

TEST(StateFile, RefusesToWriteWhatItWouldNotRead) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  PersistedState state;
  state.pools["web"] = {{.address = "127.0.0.1:8081", .weight = 0, .draining = false},
                        {.address = "127.0.0.1:8081", .weight = 1'001, .draining = false},
                        {.address = "no-port", .weight = 1, .draining = false}};
  const auto error = write_state_file(path, state);
  ASSERT_TRUE(error);
  EXPECT_EQ(*error,
            "cannot write state file " + path +
                ": pools.web[0].weight must be between 1 and 1000, got 0; "
                "pools.web[1].weight must be between 1 and 1000, got 1001; "
                "pools.web[1]: duplicate backend \"127.0.0.1:8081\" in pool \"web\"; "
                "pools.web[2].address \"no-port\" is not host:port: missing port (expected host:port)");
  EXPECT_TRUE(directory_entries(directory.path()).empty());
}

TEST(StateFile, MissingFileIsNotAnError) {
  const TemporaryDirectory directory;
  const StateLoad loaded = read_state_file(directory.path() + "/state.json");
  EXPECT_TRUE(loaded.missing);
  EXPECT_FALSE(loaded.state);
  EXPECT_EQ(loaded.error, "");
}

TEST(StateFile, UnreadablePathIsAnError) {
  const TemporaryDirectory directory;
  const StateLoad loaded = read_state_file(directory.path());
  EXPECT_FALSE(loaded.missing);
  EXPECT_FALSE(loaded.state);
  EXPECT_EQ(loaded.error, "state file " + directory.path() + ": cannot read it: it is a directory");
}

struct CorruptCase {
  std::string content;
  std::string problem;  // the error after "state file PATH: "
};

TEST(StateFile, CorruptInputIsAnErrorNamingTheFileAndTheProblem) {
  const std::string web = "{\"version\": 1, \"pools\": {\"web\": [";
  const std::string end = "]}}";
  const std::string range = ".weight must be between 1 and 1000, got ";
  const std::vector<CorruptCase> cases = {
      {"", "it is empty (expected a JSON object with \"version\" and \"pools\")"},
      {" \n", "it is empty (expected a JSON object with \"version\" and \"pools\")"},
      {"{\"version\": 1,", "invalid JSON at line 1, column 15: incomplete JSON"},
      {"{\"version\": 1,\n \"pools\": {]}", "invalid JSON at line 2, column 12: syntax error"},
      {"{\"version\": 1, \"pools\": {}} x",
       "invalid JSON at line 1, column 29: data after the end of the object"},
      {"{\"version\": 1, \"pools\": {}, \"version\": 1}", "duplicate key \"version\" at the top level"},
      {"{\"version\": 1, \"pools\": {\"web\": [], \"web\": []}}", "duplicate key \"web\" in pools"},
      {web + "{\"address\": \"127.0.0.1:1\", \"address\": \"127.0.0.1:2\"}" + end,
       "duplicate key \"address\" in pools.web[]"},
      {"[]", "expected a JSON object at the top level, got an array"},
      {"{\"pools\": {}}", "missing \"version\""},
      {"{\"version\": \"1\", \"pools\": {}}", "\"version\" must be an integer, got a string"},
      {"{\"version\": 1.0, \"pools\": {}}", "\"version\" must be an integer, got a number with a fraction"},
      {"{\"version\": 2, \"pools\": {\"web\": 7}}", "unsupported version 2 (this keel reads version 1)"},
      {"{\"version\": 0, \"pools\": {}}", "unsupported version 0 (this keel reads version 1)"},
      {"{\"version\": 1}", "missing \"pools\""},
      {"{\"version\": 1, \"pools\": []}", "\"pools\" must be an object, got an array"},
      {"{\"version\": 1, \"pools\": {}, \"backends\": []}", "unknown key \"backends\" at the top level"},
      {"{\"version\": 1, \"pools\": {\"web\": {}}}", "pools.web must be an array of backends, got an object"},
      {web + "\"127.0.0.1:8081\"" + end, "pools.web[0] must be an object, got a string"},
      {web + "{\"weight\": 1}" + end, "pools.web[0]: missing \"address\""},
      {web + "{\"address\": 8081}" + end, "pools.web[0].address must be a string, got an integer"},
      {web + "{\"address\": \"127.0.0.1\"}" + end,
       "pools.web[0].address \"127.0.0.1\" is not host:port: missing port (expected host:port)"},
      {web + "{\"address\": \"127.0.0.1:0\"}" + end,
       "pools.web[0].address \"127.0.0.1:0\" is not host:port: the port must be from 1 to 65535"},
      {web + "{\"address\": \"127.0.0.1:1\", \"weight\": \"2\"}" + end,
       "pools.web[0].weight must be an integer, got a string"},
      {web + "{\"address\": \"127.0.0.1:1\", \"weight\": 1.5}" + end,
       "pools.web[0].weight must be an integer, got a number with a fraction"},
      {web + "{\"address\": \"127.0.0.1:1\", \"weight\": 0}" + end, "pools.web[0]" + range + "0"},
      {web + "{\"address\": \"127.0.0.1:1\", \"weight\": -1}" + end, "pools.web[0]" + range + "-1"},
      {web + "{\"address\": \"127.0.0.1:1\", \"weight\": 1001}" + end, "pools.web[0]" + range + "1001"},
      {web + "{\"address\": \"127.0.0.1:1\", \"weight\": 18446744073709551615}" + end,
       "pools.web[0]" + range + "18446744073709551615"},
      {web + "{\"address\": \"127.0.0.1:1\", \"state\": \"healthy\"}" + end,
       "pools.web[0].state must be \"active\" or \"draining\", got \"healthy\""},
      {web + "{\"address\": \"127.0.0.1:1\", \"state\": true}" + end,
       "pools.web[0].state must be a string, got a boolean"},
      {web + "{\"address\": \"127.0.0.1:1\", \"health\": \"healthy\"}" + end,
       "unknown key \"health\" in pools.web[0]"},
      {web +
           "{\"address\": \"127.0.0.1:1\"}, {\"address\": \"127.0.0.1:2\"}, {\"address\": \"127.0.0.1:1\"}" +
           end,
       "pools.web[2]: duplicate backend \"127.0.0.1:1\" in pool \"web\""},
      {"{\"version\": 1, \"pools\": {\"\": []}}", "a pool name is empty"},
      // Every problem at once.
      {web + "{\"address\": 1, \"weight\": 0}, {\"address\": \"127.0.0.1:1\", \"state\": \"gone\"}" + end,
       "pools.web[0].address must be a string, got an integer; pools.web[0]" + range +
           "0; pools.web[1].state must be \"active\" or \"draining\", got \"gone\""},
  };
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  for (const auto& c : cases) {
    directory.file("state.json", c.content);
    const StateLoad loaded = read_state_file(path);
    EXPECT_FALSE(loaded.state) << c.content;
    EXPECT_FALSE(loaded.missing) << c.content;
    EXPECT_EQ(loaded.error, "state file " + path + ": " + c.problem) << c.content;
  }
}

TEST(StateFile, OptionalFieldsTakeTheApiDefaults) {
  const TemporaryDirectory directory;
  const std::string path = directory.file(
      "state.json", "{\"pools\": {\"web\": [{\"address\": \"127.0.0.1:8081\"}]}, \"version\": 1}");
  const StateLoad loaded = read_state_file(path);
  ASSERT_TRUE(loaded.state) << loaded.error;
  ASSERT_EQ(loaded.state->pools.at("web").size(), 1u);
  EXPECT_EQ(loaded.state->pools.at("web")[0].weight, 1u);
  EXPECT_FALSE(loaded.state->pools.at("web")[0].draining);
}

}  // namespace
}  // namespace keel::control
