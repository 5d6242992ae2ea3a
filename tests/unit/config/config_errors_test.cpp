#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

const std::string kDurationHelp =
    ": expected a number and a unit ms, s, m or h, in whole milliseconds, e.g. '250ms' or '1.5s'";

TEST(ConfigErrors, UnknownKeysAtEveryDepth) {
  expect_errors({
      {kListener + kPool + "wrokers: 2\n", {"5:1: unknown key 'wrokers' at the top level; did you mean 'workers'?"}},
      {"listeners:\n  - address: 127.0.0.1:0\n    port: 80\n" + kPool,
       {"3:5: unknown key 'port' in listeners[0]; did you mean 'address'?"}},
      {"timeouts:\n  conect: 2s\n" + kListener + kPool, {"2:3: unknown key 'conect' in timeouts; did you mean 'connect'?"}},
      {"limits:\n  max_header: 1\n" + kListener + kPool, {"2:3: unknown key 'max_header' in limits; did you mean 'max_header_bytes'?"}},
      {"forwarded: { mode: append, proto: https }\n" + kListener + kPool,
       {"1:28: unknown key 'proto' in forwarded; valid keys: mode"}},
      {kListener + "pools:\n  - name: web\n    balancing: least_conn\n",
       {"5:5: unknown key 'balancing' in pools[0]; did you mean 'balance'?"}},
      {kListener + "pools:\n"
                   "  - name: web\n"
                   "    backends:\n"
                   "      - { address: 127.0.0.1:8081 }\n"
                   "      - { address: 127.0.0.1:8082, weigth: 2 }\n",
       {"7:36: unknown key 'weigth' in pools[0].backends[1]; did you mean 'weight'?"}},
      {kListener + kPool + "routes:\n  - path_prefix: /a\n    pool: web\n    method: GET\n",
       {"8:5: unknown key 'method' in routes[0]; valid keys: host, path_prefix, pool"}},
  });
}

TEST(ConfigErrors, WrongTypesPointAtTheValue) {
  expect_errors({
      {"- a\n- b\n", {"1:1: expected a mapping at the top level, got a list"}},
      {"listeners:\n  address: 127.0.0.1:0\n" + kPool, {"2:3: expected a list for listeners, got a mapping"}},
      {kListener + kPool + "timeouts: 5s\n", {"5:11: expected a mapping for timeouts, got '5s'"}},
      {kListener + kPool + "routes: /a\n", {"5:9: expected a list for routes, got '/a'"}},
      {kListener + "pools:\n  - web\n", {"4:5: expected a mapping for pools[0], got 'web'"}},
      {kListener + "pools:\n  - name: [a, b]\n", {"4:11: expected a string for pools[0].name, got a list"}},
      {kListener + "pools:\n  - name: web\n    retries: two\n",
       {"5:14: expected an integer for pools[0].retries, got 'two'"}},
      {kListener + "pools:\n  - name: web\n    retries: 1.5\n",
       {"5:14: expected an integer for pools[0].retries, got '1.5'"}},
      {kListener +
           "pools:\n  - name: web\n    backends:\n      - { address: 127.0.0.1:8081, weight: \"3\" }\n",
       {"6:44: expected an integer for pools[0].backends[0].weight, got \"3\" (a quoted string)"}},
      {kListener + "pools:\n  - name: web\n    backends:\n      address: 127.0.0.1:8081\n",
       {"6:7: expected a list for pools[0].backends, got a mapping"}},
      // An empty value is reported at its key.
      {kListener + "pools:\n  - name: web\n    balance:\n",
       {"5:5: expected a string for pools[0].balance, got nothing"}},
      {"workers: many\n" + kListener + kPool,
       {"1:10: expected a positive integer or 'auto' for workers, got 'many'"}},
      {"workers: [2]\n" + kListener + kPool,
       {"1:10: expected a positive integer or 'auto' for workers, got a list"}},
      {"listeners:\n  - address: { host: a }\n" + kPool,
       {"2:14: expected a string for listeners[0].address, got a mapping"}},
      {"? [a, b]\n: 1\n" + kListener + kPool, {"1:3: expected a key at the top level, got a list"}},
  });
}

TEST(ConfigErrors, OutOfRangeNumbers) {
  expect_errors({
      {"workers: 0\n" + kListener + kPool, {"1:10: workers must be between 1 and 256, got 0"}},
      {"workers: 257\n" + kListener + kPool, {"1:10: workers must be between 1 and 256, got 257"}},
      {kListener + "pools:\n  - name: web\n    retries: 11\n",
       {"5:14: pools[0].retries must be between 0 and 10, got 11"}},
      {kListener + "pools:\n  - name: web\n    retries: -1\n",
       {"5:14: pools[0].retries must be between 0 and 10, got -1"}},
      {kListener + "pools:\n"
                   "  - name: web\n"
                   "    backends:\n"
                   "      - { address: 127.0.0.1:8081, weight: 0 }\n"
                   "      - { address: 127.0.0.1:8082, weight: 1001 }\n",
       {"6:44: pools[0].backends[0].weight must be between 1 and 1000, got 0",
        "7:44: pools[0].backends[1].weight must be between 1 and 1000, got 1001"}},
      {kListener + kPool + "limits:\n  max_header_bytes: 512\n  max_body_bytes: -1\n  max_connections: 0\n",
       {"6:21: limits.max_header_bytes must be between 1024 and 1048576, got 512",
        "7:19: limits.max_body_bytes must be at least 0, got -1",
        "8:20: limits.max_connections must be at least 1, got 0"}},
      {kListener + kPool + "limits:\n  max_header_bytes: 1048577\n  max_body_bytes: 99999999999999999999\n",
       {"6:21: limits.max_header_bytes must be between 1024 and 1048576, got 1048577",
        "7:19: limits.max_body_bytes must be at least 0, got 99999999999999999999"}},
  });
}

TEST(ConfigErrors, UnknownChoices) {
  expect_errors({
      {"forwarded:\n  mode: prepend\n" + kListener + kPool,
       {"2:9: unknown value 'prepend' for forwarded.mode: expected append or replace"}},
      {kListener + "pools:\n  - name: web\n    balance: random\n",
       {"5:14: unknown value 'random' for pools[0].balance: expected round_robin or least_conn"}},
  });
}

TEST(ConfigErrors, BadDurations) {
  expect_errors({
      {"timeouts:\n"
       "  connect: 5\n"
       "  idle: 0s\n"
       "  drain: 5x\n"
       "  shutdown: -1s\n"
       "  client_header: 25h\n"
       "  upstream_header: [1s]\n" +
           kListener + kPool,
       {"2:12: duration 5 for timeouts.connect needs a unit (ms, s, m or h); did you mean '5s'?",
        "3:9: timeouts.idle must be greater than 0, got 0s",
        "4:10: invalid duration '5x' for timeouts.drain" + kDurationHelp,
        "5:13: invalid duration '-1s' for timeouts.shutdown" + kDurationHelp,
        "6:18: timeouts.client_header must be at most 24h, got 25h",
        "7:20: expected a duration string for timeouts.upstream_header, got a list"}},
      {"timeouts:\n  connect: \"1.5\"\n  idle: 1.5ms\n" + kListener + kPool,
       {"2:12: duration 1.5 for timeouts.connect needs a unit (ms, s, m or h); did you mean '1.5s'?",
        "3:9: invalid duration '1.5ms' for timeouts.idle" + kDurationHelp}},
  });
}

TEST(ConfigErrors, BadAddresses) {
  expect_errors({
      {"listeners:\n"
       "  - address: 127.0.0.1\n"
       "  - address: 127.0.0.1:65536\n"
       "  - address: \"::1:80\"\n"
       "  - address: \"[::1]\"\n"
       "  - address: \"[foo]:80\"\n"
       "  - address: 10.1:80\n"
       "  - address: bad_host!:80\n"
       "  - address: 127.0.0.1:http\n" +
           kPool,
       {"2:14: invalid address '127.0.0.1' for listeners[0].address: missing port (expected host:port)",
        "3:14: invalid address '127.0.0.1:65536' for listeners[1].address: the port must be from 0 to 65535",
        "4:14: invalid address '::1:80' for listeners[2].address: an IPv6 address needs brackets, as in "
        "[::1]:8080",
        "5:14: invalid address '[::1]' for listeners[3].address: missing port",
        "6:14: invalid address '[foo]:80' for listeners[4].address: brackets are only for IPv6 addresses",
        "7:14: invalid address '10.1:80' for listeners[5].address: '10.1' is not an IPv4 address",
        "8:14: invalid address 'bad_host!:80' for listeners[6].address: 'bad_host!' is not a valid host name",
        "9:14: invalid address '127.0.0.1:http' for listeners[7].address: the port must be a number"}},
      {kListener + "pools:\n  - name: web\n    backends:\n      - address: 127.0.0.1:0\n",
       {"6:18: invalid address '127.0.0.1:0' for pools[0].backends[0].address: the port must be from 1 to "
        "65535"}},
      {"listeners:\n  - address: 127.0.0.1:8080\n  - address: 127.0.0.1:8080\n" + kPool,
       {"3:14: duplicate listener '127.0.0.1:8080' (listeners[1]): same address as listeners[0]"}},
      {"listeners:\n  - address: 127.0.0.1:8080\n  - address: \"[::ffff:127.0.0.1]:8080\"\n" + kPool,
       {"3:14: duplicate listener '[::ffff:127.0.0.1]:8080' (listeners[1]): same address as listeners[0]"}},
  });
}

TEST(ConfigErrors, UnresolvableBackendName) {
  const auto errors =
      errors_of(kListener + "pools:\n  - name: web\n    backends:\n      - address: keel-test.invalid:80\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with(
      "6:18: invalid address 'keel-test.invalid:80' for pools[0].backends[0].address: cannot resolve "
      "'keel-test.invalid': "))
      << errors[0];
}

TEST(ConfigErrors, PoolsAndBackends) {
  expect_errors({
      {kListener + "pools:\n  - name: web\n  - name: api\n  - name: web\n",
       {"6:11: duplicate pool name 'web' (pools[2].name); the first is pools[0]"}},
      {kListener + "pools:\n  - name: \"\"\n  - name: a b\n",
       {"4:11: pools[0].name must not be empty",
        "5:11: pools[1].name may contain only letters, digits, '-', '_' and '.', got 'a b'"}},
      {kListener + "pools:\n"
                   "  - name: web\n"
                   "    backends:\n"
                   "      - address: 127.0.0.1:8081\n"
                   "      - address: 127.0.0.1:8082\n"
                   "      - address: 127.0.0.1:8081\n"
                   "      - address: localhost:8082\n",
       {"8:18: duplicate backend '127.0.0.1:8081' (pools[0].backends[2]): same address as "
        "pools[0].backends[0]",
        "9:18: duplicate backend 'localhost:8082' (pools[0].backends[3]): same address as "
        "pools[0].backends[1]"}},
      {"listeners: []\npools: []\n", {"1:12: listeners must not be empty", "2:8: pools must not be empty"}},
  });
}

// One backend, one entry: a leading zero in the port or an IPv4-mapped IPv6 literal
// names the same backend as the plain address.
TEST(ConfigErrors, DuplicateBackendBySpellingOfItsEndpoint) {
  expect_errors({
      {kListener + "pools:\n"
                   "  - name: web\n"
                   "    backends:\n"
                   "      - address: 127.0.0.1:18081\n"
                   "      - address: 127.0.0.1:018081\n"
                   "      - address: \"[::ffff:127.0.0.1]:18081\"\n",
       {"7:18: duplicate backend '127.0.0.1:018081' (pools[0].backends[1]): same address as "
        "pools[0].backends[0]",
        "8:18: duplicate backend '[::ffff:127.0.0.1]:18081' (pools[0].backends[2]): same address as "
        "pools[0].backends[0]"}},
  });
}

TEST(ConfigErrors, MissingRequiredKeysPointAtTheirMapping) {
  expect_errors({
      {"workers: 2\n",
       {"1:1: missing required key 'listeners' at the top level",
        "1:1: missing required key 'pools' at the top level"}},
      {"listeners:\n  - {}\npools:\n  - balance: round_robin\n    backends:\n      - weight: 2\n",
       {"2:5: missing required key 'address' in listeners[0]", "4:5: missing required key 'name' in pools[0]",
        "6:9: missing required key 'address' in pools[0].backends[0]"}},
      {"", {"1:1: the config is empty: it needs at least 'listeners' and 'pools'"}},
      {"# nothing here\n", {"1:1: the config is empty: it needs at least 'listeners' and 'pools'"}},
      {"---\n", {"1:1: the config is empty: it needs at least 'listeners' and 'pools'"}},
  });
}

TEST(ConfigErrors, Routes) {
  expect_errors({
      {kListener + kPool +
           "routes:\n"
           "  - { host: a.example, pool: api }\n"
           "  - { pool: web }\n"
           "  - { path_prefix: v1, pool: web }\n"
           "  - { host: \"*.example.com\", pool: web }\n"
           "  - { host: \"\", path_prefix: /x, pool: web }\n"
           "  - { host: a.example }\n",
       {"6:30: unknown pool 'api' for routes[0].pool", "7:5: routes[1] needs a 'host' or a 'path_prefix'",
        "8:20: routes[2].path_prefix must start with '/', got 'v1'",
        "9:13: routes[3].host: wildcard hosts are not supported, got '*.example.com'",
        "10:13: routes[4].host must not be empty", "11:5: missing required key 'pool' in routes[5]"}},
      // A pool with errors of its own still exists for its routes: one error, not two.
      {kListener + "pools:\n  - name: api\n    retries: -1\nroutes:\n  - { path_prefix: /, pool: api }\n",
       {"5:14: pools[0].retries must be between 0 and 10, got -1"}},
  });
}

TEST(ConfigErrors, YamlProblems) {
  expect_errors({
      {kListener + kPool + "workers: 1\nworkers: 2\n",
       {"6:1: duplicate key 'workers' at the top level (first at line 5)"}},
      {kListener + kPool + "---\nworkers: 2\n",
       {"6:1: a config file holds one YAML document; found a second one"}},
      {"workers: *x\n" + kListener + kPool,
       {"1:10: YAML syntax error: the referenced anchor is not defined"}},
      {"listeners:\n\t- address: 127.0.0.1:0\n", {"2:2: YAML syntax error: illegal block entry"}},
      {"listeners: [a, b\npools: 1\n", {"2:6: YAML syntax error: end of sequence flow not found"}},
  });
}

// Found by fuzzing: yaml-cpp 0.7's LoadAll loops forever, allocating, on a
// document that consumes no token (a file that starts with ','), so start,
// --check-config and SIGHUP hung and ate memory. Each case runs first in a
// child under an alarm, so that a regression fails here instead of hanging.
TEST(ConfigErrors, ADocumentThatConsumesNothingIsASyntaxErrorNotAHang) {
  const std::vector<ErrorCase> cases = {
      {",: 1\n", {"1:1: YAML syntax error: unexpected ','"}},
      {",\n" + kListener + kPool, {"1:1: YAML syntax error: unexpected ','"}},
      {"- a\n,\n", {"2:1: YAML syntax error: unexpected ','"}},
      {kListener + kPool + "--- ,\n", {"5:5: YAML syntax error: unexpected ','"}},
  };
  for (const auto& c : cases) {
    EXPECT_EXIT(
        {
          ::alarm(10);
          const LoadResult result = parse_config(c.yaml, "keel.yaml");
          std::_Exit(!result.config && result.errors.size() == 1 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "")
        << "--- config:\n" << c.yaml;
  }
  if (HasFailure()) return;  // in this process it would hang
  expect_errors(cases);
}

// Problems are reported all at once, in document order, even when the check
// that finds them runs later (routes are resolved after pools).
TEST(ConfigErrors, EveryProblemAtOnceInDocumentOrder) {
  expect_errors(
      {{"routes:\n"
        "  - { path_prefix: /, pool: nope }\n"
        "workers: 0\n"
        "listeners:\n"
        "  - address: 127.0.0.1\n"
        "pools:\n"
        "  - name: web\n"
        "    retries: 99\n"
        "    backends:\n"
        "      - { address: 127.0.0.1:8081, weigth: 2 }\n"
        "timeouts:\n"
        "  connect: 5\n",
        {"2:29: unknown pool 'nope' for routes[0].pool", "3:10: workers must be between 1 and 256, got 0",
         "5:14: invalid address '127.0.0.1' for listeners[0].address: missing port (expected host:port)",
         "8:14: pools[0].retries must be between 0 and 10, got 99",
         "10:36: unknown key 'weigth' in pools[0].backends[0]; did you mean 'weight'?",
         "12:12: duration 5 for timeouts.connect needs a unit (ms, s, m or h); did you mean '5s'?"}}});
}

TEST(ConfigErrors, HostileInputNeverThrows) {
  const std::vector<std::string> inputs = {
      std::string("\0\0\0", 3), "[[[[[[", "{{{{",      "!!binary x",           "? ? ? ?", "&a [*a]",
      "%YAML 9.9\n---\na: 1\n", "'",      "\"\\xff\"", std::string(1000, '-'),
  };
  for (const auto& input : inputs) {
    LoadResult loaded;
    EXPECT_NO_THROW(loaded = parse_config(input, "test.yaml")) << input;
    EXPECT_FALSE(loaded.config) << input;
    EXPECT_FALSE(loaded.errors.empty()) << input;
  }
}

TEST(LoadConfigFile, MissingFileIsOneErrorWithoutPosition) {
  const auto loaded = load_config_file("/nonexistent/keel.yaml");
  EXPECT_FALSE(loaded.config);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(),
            "/nonexistent/keel.yaml:0:0: cannot read the config: No such file or directory");
}

TEST(LoadConfigFile, DirectoryIsAnError) {
  const std::string path = std::string(KEEL_SOURCE_DIR) + "/conf";
  const auto loaded = load_config_file(path);
  EXPECT_FALSE(loaded.config);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(), path + ":0:0: cannot read the config: it is a directory");
}

// An address with a line break is reported on one line, with the break escaped.
TEST(ConfigErrors, ControlCharactersInAnAddressAreEscapedInTheMessage) {
  expect_errors({
      {kListener + "pools:\n  - name: web\n    backends:\n      - address: \"127.0.0.1:80\\r\\nX: y\"\n",
       {"6:18: invalid address '127.0.0.1:80\\r\\nX: y' for pools[0].backends[0].address: the address contains a "
        "control character (byte 0x0D)"}},
  });
}

// --check-config on a huge file: the file and a place, not 0:0.
TEST(LoadConfigFile, FileOver16MiBIsAnErrorAtItsStart) {
  const std::string path = testing::TempDir() + "keel_config_huge_test.yaml";
  {
    std::ofstream file(path);
    file << kListener << kPool;
    const std::string comment = "# " + std::string(1022, 'x') + "\n";
    for (int i = 0; i < 16 * 1024 + 1; ++i) file << comment;
  }
  const auto loaded = load_config_file(path);
  std::remove(path.c_str());
  EXPECT_FALSE(loaded.config);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(), path + ":1:1: file is larger than 16 MiB");
}

TEST(LoadConfigFile, ErrorsNameTheFile) {
  const std::string path = testing::TempDir() + "keel_config_errors_test.yaml";
  std::ofstream(path) << kListener << kPool << "wrokers: 2\n";
  const auto loaded = load_config_file(path);
  std::remove(path.c_str());
  EXPECT_FALSE(loaded.config);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].to_string(), path + ":5:1: unknown key 'wrokers' at the top level; did you mean 'workers'?");
}

}  // namespace
}  // namespace keel::config
