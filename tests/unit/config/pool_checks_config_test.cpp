#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

using namespace std::chrono_literals;

// Line 5 is "    health_check:" (or passive), line 6 its first key, whose value
// starts at column 7 + the key's length + 2.
std::string with_pool_block(const std::string& block, const std::string& body) {
  return kListener + kPool + "    " + block + ":\n" + body;
}
std::string health(const std::string& body) { return with_pool_block("health_check", body); }
std::string passive(const std::string& body) { return with_pool_block("passive", body); }

TEST(HealthCheckConfig, AbsentByDefault) {
  const Config config = load_ok(kListener + kPool);
  EXPECT_FALSE(config.pools[0].health_check);
  EXPECT_FALSE(config.pools[0].passive);
}

TEST(HealthCheckConfig, EmptyMappingTakesTheDefaults) {
  const Config config = load_ok(kListener + kPool + "    health_check: {}\n    passive: {}\n");
  ASSERT_TRUE(config.pools[0].health_check);
  const HealthCheck& check = *config.pools[0].health_check;
  EXPECT_EQ(check.path, "/healthz");
  EXPECT_EQ(check.interval, 2s);
  EXPECT_EQ(check.timeout, 1s);
  EXPECT_EQ(check.healthy_threshold, 2u);
  EXPECT_EQ(check.unhealthy_threshold, 3u);
  EXPECT_EQ(check.expect_min, 200);
  EXPECT_EQ(check.expect_max, 399);
  ASSERT_TRUE(config.pools[0].passive);
  EXPECT_EQ(config.pools[0].passive->max_fails, 3u);
  EXPECT_EQ(config.pools[0].passive->fail_timeout, 10s);
}

TEST(HealthCheckConfig, EveryKey) {
  const Config config =
      load_ok(health("      path: /status?full=1\n"
                     "      interval: 1.5s\n"
                     "      timeout: 1500ms\n"  // equal to the interval is allowed
                     "      healthy_threshold: 1\n"
                     "      unhealthy_threshold: 100\n"
                     "      expect_status: 204\n"));
  ASSERT_TRUE(config.pools[0].health_check);
  const HealthCheck& check = *config.pools[0].health_check;
  EXPECT_EQ(check.path, "/status?full=1");
  EXPECT_EQ(check.interval, 1500ms);
  EXPECT_EQ(check.timeout, 1500ms);
  EXPECT_EQ(check.healthy_threshold, 1u);
  EXPECT_EQ(check.unhealthy_threshold, 100u);
  EXPECT_EQ(check.expect_min, 204);
  EXPECT_EQ(check.expect_max, 204);

  const Config wide =
      load_ok(health("      expect_status: 100-599\n      interval: 5s\n      timeout: 4s\n"));
  EXPECT_EQ(wide.pools[0].health_check->expect_min, 100);
  EXPECT_EQ(wide.pools[0].health_check->expect_max, 599);
  EXPECT_EQ(wide.pools[0].health_check->timeout, 4s);
}

TEST(HealthCheckConfig, Errors) {
  const std::string status_help = ": expected a status code like 200 or a range like 200-399";
  expect_errors({
      {health("      path: /healthz\n      method: GET\n"),
       {"7:7: unknown key 'method' in pools[0].health_check; valid keys: path, interval, timeout, "
        "healthy_threshold, unhealthy_threshold, expect_status"}},
      {health("      path: healthz\n"),
       {"6:13: pools[0].health_check.path must start with '/', got 'healthz'"}},
      {health("      path: /a b\n"),
       {"6:13: pools[0].health_check.path must not contain spaces, line breaks, control or non-ASCII "
        "characters "
        "(percent-encode them)"}},
      {health("      path: \"/a\\r\\nX-Injected: 1\"\n"),
       {"6:13: pools[0].health_check.path must not contain spaces, line breaks, control or non-ASCII "
        "characters "
        "(percent-encode them)"}},
      {health("      path: /caf\u00e9\n"),
       {"6:13: pools[0].health_check.path must not contain spaces, line breaks, control or non-ASCII "
        "characters "
        "(percent-encode them)"}},
      {health("      path: [a]\n"), {"6:13: expected a string for pools[0].health_check.path, got a list"}},
      {health("      interval: 0s\n      timeout: 0ms\n"),
       {"6:17: pools[0].health_check.interval must be greater than 0, got 0s",
        "7:16: pools[0].health_check.timeout must be greater than 0, got 0ms"}},
      {health("      interval: 5\n"),
       {"6:17: duration 5 for pools[0].health_check.interval needs a unit (ms, s, m or h); did you mean '5s'?"}},
      {health("      interval: 1s\n      timeout: 2s\n"),
       {"7:16: pools[0].health_check.timeout (2s) must not be longer than pools[0].health_check.interval "
        "(1s)"}},
      {health("      interval: 500ms\n"),
       {"6:17: pools[0].health_check.timeout (1s, the default) must not be longer than "
        "pools[0].health_check.interval (500ms)"}},
      {health("      timeout: 3s\n"),
       {"6:16: pools[0].health_check.timeout (3s) must not be longer than pools[0].health_check.interval "
        "(2s, the default)"}},
      {health("      healthy_threshold: 0\n      unhealthy_threshold: 101\n"),
       {"6:26: pools[0].health_check.healthy_threshold must be between 1 and 100, got 0",
        "7:28: pools[0].health_check.unhealthy_threshold must be between 1 and 100, got 101"}},
      {health("      healthy_threshold: two\n"),
       {"6:26: expected an integer for pools[0].health_check.healthy_threshold, got 'two'"}},
      {health("      expect_status: 600\n"),
       {"6:22: invalid status range '600' for pools[0].health_check.expect_status: status codes are from 100 "
        "to 599, got 600"}},
      {health("      expect_status: 99-399\n"),
       {"6:22: invalid status range '99-399' for pools[0].health_check.expect_status: status codes are from "
        "100 to 599, got 99"}},
      {health("      expect_status: 399-200\n"),
       {"6:22: invalid status range '399-200' for pools[0].health_check.expect_status: the range is reversed "
        "(399 > 200)"}},
      {health("      expect_status: 2xx\n"),
       {"6:22: invalid status range '2xx' for pools[0].health_check.expect_status" + status_help}},
      {health("      expect_status: [200]\n"),
       {"6:22: expected a string for pools[0].health_check.expect_status, got a list"}},
      {kListener + kPool + "    health_check: yes\n",
       {"5:19: expected a mapping for pools[0].health_check, got 'yes'"}},
      {kListener + kPool + "    health_check:\n",
       {"5:5: expected a mapping for pools[0].health_check, got nothing"}},
  });
}

TEST(PassiveConfig, EveryKey) {
  const Config config = load_ok(passive("      max_fails: 1000\n      fail_timeout: 250ms\n"));
  ASSERT_TRUE(config.pools[0].passive);
  EXPECT_EQ(config.pools[0].passive->max_fails, 1'000u);
  EXPECT_EQ(config.pools[0].passive->fail_timeout, 250ms);
  EXPECT_EQ(load_ok(passive("      max_fails: 1\n")).pools[0].passive->max_fails, 1u);
}

TEST(PassiveConfig, Errors) {
  expect_errors({
      {passive("      max_fails: 3\n      fail_timout: 10s\n"),
       {"7:7: unknown key 'fail_timout' in pools[0].passive; did you mean 'fail_timeout'?"}},
      {passive("      max_fails: 0\n"),
       {"6:18: pools[0].passive.max_fails must be between 1 and 1000, got 0"}},
      {passive("      max_fails: 1001\n"),
       {"6:18: pools[0].passive.max_fails must be between 1 and 1000, got 1001"}},
      {passive("      fail_timeout: 0s\n"),
       {"6:21: pools[0].passive.fail_timeout must be greater than 0, got 0s"}},
      {passive("      fail_timeout: 10\n"),
       {"6:21: duration 10 for pools[0].passive.fail_timeout needs a unit (ms, s, m or h); did you mean '10s'?"}},
      {kListener + kPool + "    passive: [3]\n",
       {"5:14: expected a mapping for pools[0].passive, got a list"}},
  });
}

// A pool with a broken check is not loaded, so its routes are not reported again.
TEST(PoolChecksConfig, ErrorsInOnePoolDoNotHideTheNext) {
  expect_errors({{kListener + "pools:\n"
                              "  - name: a\n"
                              "    passive: { max_fails: 0 }\n"
                              "  - name: b\n"
                              "    health_check: { interval: 0s }\n"
                              "routes:\n"
                              "  - { path_prefix: /, pool: a }\n",
                  {"5:27: pools[0].passive.max_fails must be between 1 and 1000, got 0",
                   "7:31: pools[1].health_check.interval must be greater than 0, got 0s"}}});
}

// Every documented key (docs/configuration.md) that is implemented, with a value other than its default.
TEST(FullConfig, EveryImplementedKey) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  const TemporaryDirectory directory;
  const std::string token_file = directory.file("admin.token", "abc123\n");
  const std::string state_file = directory.path() + "/state.json";
  const Config config = load_ok(yaml(R"(
workers: 2
listeners:
  - address: 127.0.0.1:0
admin:
  address: 0.0.0.0:9901
  token_file: )" + token_file + R"(
state_file: )" + state_file + R"(
timeouts: { connect: 1s, client_header: 2s, upstream_header: 3s, idle: 4s, shutdown: 5s, drain: 6s }
limits: { max_header_bytes: 2048, max_body_bytes: 10, max_connections: 20 }
forwarded:
  mode: replace
pools:
  - name: web
    balance: least_conn
    retries: 1
    backends:
      - { address: 127.0.0.1:8081, weight: 2 }
    health_check:
      path: /ready
      interval: 3s
      timeout: 500ms
      healthy_threshold: 4
      unhealthy_threshold: 5
      expect_status: 200-299
    passive:
      max_fails: 7
      fail_timeout: 30s
routes:
  - { host: api.example.com, path_prefix: /v1, pool: web }
)"));
  EXPECT_EQ(config.workers, 2u);
  ASSERT_TRUE(config.admin);
  EXPECT_EQ(config.admin->address.text, "0.0.0.0:9901");
  EXPECT_EQ(config.admin->token, "abc123");
  EXPECT_EQ(config.admin->token_file, token_file);
  EXPECT_EQ(config.state_file, state_file);
  EXPECT_EQ(config.timeouts.drain, 6s);
  EXPECT_EQ(config.limits.max_connections, 20u);
  EXPECT_EQ(config.forwarded_mode, ForwardedMode::replace);
  ASSERT_EQ(config.pools.size(), 1u);
  const Pool& web = config.pools[0];
  EXPECT_EQ(web.balance, Balance::least_conn);
  EXPECT_EQ(web.retries, 1u);
  ASSERT_EQ(web.backends.size(), 1u);
  EXPECT_EQ(web.backends[0].weight, 2u);
  ASSERT_TRUE(web.health_check);
  EXPECT_EQ(web.health_check->path, "/ready");
  EXPECT_EQ(web.health_check->interval, 3s);
  EXPECT_EQ(web.health_check->timeout, 500ms);
  EXPECT_EQ(web.health_check->healthy_threshold, 4u);
  EXPECT_EQ(web.health_check->unhealthy_threshold, 5u);
  EXPECT_EQ(web.health_check->expect_min, 200);
  EXPECT_EQ(web.health_check->expect_max, 299);
  ASSERT_TRUE(web.passive);
  EXPECT_EQ(web.passive->max_fails, 7u);
  EXPECT_EQ(web.passive->fail_timeout, 30s);
  ASSERT_EQ(config.routes.size(), 1u);
}

}  // namespace
}  // namespace keel::config
