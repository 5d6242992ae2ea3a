#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

using namespace std::chrono_literals;

std::string endpoint(const Address& address) {
  return address.endpoint.address().to_string() + " " + std::to_string(address.endpoint.port());
}

const std::string kMinimal = yaml(R"(
listeners:
  - address: 127.0.0.1:0
pools:
  - name: web
    backends:
      - address: 127.0.0.1:8081
)");

TEST(LoadConfig, AbsentKeysTakeTheDefaults) {
  const Config config = load_ok(kMinimal);
  const Timeouts timeouts;
  const Limits limits;
  EXPECT_EQ(config.source, "test.yaml");
  EXPECT_EQ(config.workers, 1u);
  EXPECT_EQ(config.timeouts.connect, 2s);
  EXPECT_EQ(config.timeouts.client_header, 10s);
  EXPECT_EQ(config.timeouts.upstream_header, 30s);
  EXPECT_EQ(config.timeouts.idle, 60s);
  EXPECT_EQ(config.timeouts.shutdown, 30s);
  EXPECT_EQ(config.timeouts.drain, 30s);
  EXPECT_EQ(config.limits.max_header_bytes, 16'384u);
  EXPECT_EQ(config.limits.max_body_bytes, 0u);
  EXPECT_EQ(config.limits.max_connections, 10'000u);
  EXPECT_EQ(config.forwarded_mode, ForwardedMode::append);
  ASSERT_EQ(config.pools.size(), 1u);
  EXPECT_EQ(config.pools[0].balance, Balance::round_robin);
  EXPECT_EQ(config.pools[0].retries, 2u);
  ASSERT_EQ(config.pools[0].backends.size(), 1u);
  EXPECT_EQ(config.pools[0].backends[0].weight, 1u);
  EXPECT_FALSE(config.pools[0].health_check);
  EXPECT_FALSE(config.pools[0].passive);
  EXPECT_TRUE(config.routes.empty());
  EXPECT_FALSE(config.admin);
  EXPECT_EQ(config.state_file, "");
}

TEST(LoadConfig, FullConfigRoundTrips) {
  const Config config = load_ok(yaml(R"(
workers: 3
listeners:
  - address: 0.0.0.0:8080
  - address: "[::]:8080"
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
timeouts:
  connect: 250ms
  client_header: 1.5s
  upstream_header: 1m
  idle: 1h
  shutdown: 0s
  drain: 5s
limits:
  max_header_bytes: 1024
  max_body_bytes: 1048576
  max_connections: 7
forwarded:
  mode: replace
pools:
  - name: web
    balance: least_conn
    retries: 0
    backends:
      - { address: 127.0.0.1:8081, weight: 1000 }
      - { address: "[::1]:8082" }
      - address: localhost:8083
        weight: 3
  - name: api.v2_x-1
    retries: 10
    backends: []
  - name: empty
routes:
  - { host: api.example.com, path_prefix: /v1, pool: api.v2_x-1 }
  - host: Static.Example.com:8080
    pool: empty
  - path_prefix: /
    pool: web
)"));
  EXPECT_EQ(config.workers, 3u);
  ASSERT_EQ(config.listeners.size(), 4u);
  EXPECT_EQ(config.listeners[0].address.text, "0.0.0.0:8080");
  EXPECT_EQ(endpoint(config.listeners[0].address), "0.0.0.0 8080");
  EXPECT_EQ(config.listeners[1].address.text, "[::]:8080");
  EXPECT_EQ(endpoint(config.listeners[1].address), ":: 8080");
  EXPECT_EQ(endpoint(config.listeners[3].address), "127.0.0.1 0");

  EXPECT_EQ(config.timeouts.connect, 250ms);
  EXPECT_EQ(config.timeouts.client_header, 1500ms);
  EXPECT_EQ(config.timeouts.upstream_header, 1min);
  EXPECT_EQ(config.timeouts.idle, 1h);
  EXPECT_EQ(config.timeouts.shutdown, 0ms);
  EXPECT_EQ(config.timeouts.drain, 5s);
  EXPECT_EQ(config.limits.max_header_bytes, 1'024u);
  EXPECT_EQ(config.limits.max_body_bytes, 1'048'576u);
  EXPECT_EQ(config.limits.max_connections, 7u);
  EXPECT_EQ(config.forwarded_mode, ForwardedMode::replace);

  ASSERT_EQ(config.pools.size(), 3u);
  const Pool& web = config.pools[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.balance, Balance::least_conn);
  EXPECT_EQ(web.retries, 0u);
  ASSERT_EQ(web.backends.size(), 3u);
  EXPECT_EQ(web.backends[0].address.text, "127.0.0.1:8081");
  EXPECT_EQ(endpoint(web.backends[0].address), "127.0.0.1 8081");
  EXPECT_EQ(web.backends[0].weight, 1'000u);
  EXPECT_EQ(web.backends[1].address.text, "[::1]:8082");
  EXPECT_EQ(endpoint(web.backends[1].address), "::1 8082");
  EXPECT_EQ(web.backends[1].weight, 1u);
  EXPECT_EQ(web.backends[2].address.text, "localhost:8083");
  EXPECT_EQ(endpoint(web.backends[2].address), "127.0.0.1 8083");
  EXPECT_EQ(web.backends[2].weight, 3u);
  EXPECT_EQ(config.pools[1].name, "api.v2_x-1");
  EXPECT_EQ(config.pools[1].balance, Balance::round_robin);
  EXPECT_EQ(config.pools[1].retries, 10u);
  EXPECT_TRUE(config.pools[1].backends.empty());
  EXPECT_TRUE(config.pools[2].backends.empty());

  ASSERT_EQ(config.routes.size(), 3u);
  EXPECT_EQ(config.routes[0].host, "api.example.com");
  EXPECT_EQ(config.routes[0].path_prefix, "/v1");
  EXPECT_EQ(config.routes[0].pool, "api.v2_x-1");
  EXPECT_EQ(config.routes[0].pool_index, 1u);
  EXPECT_EQ(config.routes[1].host, "Static.Example.com:8080");
  EXPECT_EQ(config.routes[1].path_prefix, "");
  EXPECT_EQ(config.routes[1].pool_index, 2u);
  EXPECT_EQ(config.routes[2].host, "");
  EXPECT_EQ(config.routes[2].path_prefix, "/");
  EXPECT_EQ(config.routes[2].pool_index, 0u);
}

TEST(LoadConfig, AutoWorkersIsTheNumberOfCores) {
  const unsigned cores = std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
  EXPECT_EQ(load_ok("workers: auto\n" + kMinimal).workers, cores);
  EXPECT_EQ(load_ok("workers: \"auto\"\n" + kMinimal).workers, cores);
}

struct WorkersCase {
  std::string value;
  unsigned expected;
};

TEST(LoadConfig, WorkersBounds) {
  const std::vector<WorkersCase> cases = {{"1", 1}, {"+2", 2}, {"256", 256}};
  for (const auto& c : cases)
    EXPECT_EQ(load_ok("workers: " + c.value + "\n" + kMinimal).workers, c.expected) << c.value;
}

TEST(LoadConfig, YamlFeaturesThatAreNotKeel) {
  // Comments, anchors and aliases, flow style, an explicit document start.
  const Config config = load_ok(yaml(R"(
--- # keel
listeners: [{ address: "127.0.0.1:0" }]
pools:
  - name: web  # a comment
    backends: [{ address: &first 127.0.0.1:8081 }, { address: 127.0.0.1:8082, weight: 2 }]
  - name: other
    backends:
      - address: *first
)"));
  ASSERT_EQ(config.pools.size(), 2u);
  EXPECT_EQ(config.pools[0].backends[1].weight, 2u);
  ASSERT_EQ(config.pools[1].backends.size(), 1u);
  EXPECT_EQ(config.pools[1].backends[0].address.text, "127.0.0.1:8081");
}

TEST(LoadConfig, BackendsMayBeAbsentOrEmpty) {
  const Config config = load_ok(yaml(R"(
listeners:
  - address: 127.0.0.1:0
pools:
  - name: a
  - name: b
    backends: []
)"));
  ASSERT_EQ(config.pools.size(), 2u);
  EXPECT_TRUE(config.pools[0].backends.empty());
  EXPECT_TRUE(config.pools[1].backends.empty());
}

TEST(LoadConfig, ShippedDefaultConfigLoads) {
  const std::string path = std::string(KEEL_SOURCE_DIR) + "/conf/keel.yaml";
  const auto loaded = load_config_file(path);
  std::string errors;
  for (const auto& error : loaded.errors) errors += error.to_string() + "\n";
  ASSERT_TRUE(loaded.config) << errors;
  const Config& config = *loaded.config;
  EXPECT_EQ(config.source, path);
  EXPECT_GE(config.workers, 1u);
  ASSERT_EQ(config.listeners.size(), 1u);
  // The demo listens on loopback only, and its admin API and health checks are on,
  // so that every README example works against it.
  EXPECT_EQ(config.listeners[0].address.text, "127.0.0.1:8080");
  ASSERT_TRUE(config.admin);
  EXPECT_EQ(config.admin->address.text, "127.0.0.1:9901");
  ASSERT_EQ(config.pools.size(), 1u);
  ASSERT_TRUE(config.pools[0].health_check);
  EXPECT_EQ(config.pools[0].health_check->path, "/healthz");
  EXPECT_EQ(config.pools[0].name, "web");
  EXPECT_EQ(config.pools[0].balance, Balance::round_robin);
  ASSERT_EQ(config.pools[0].backends.size(), 2u);
  EXPECT_EQ(config.pools[0].backends[0].address.text, "127.0.0.1:8081");
  EXPECT_EQ(config.pools[0].backends[1].address.text, "127.0.0.1:8082");
  // Its written-out values are the defaults.
  const Config defaults;
  EXPECT_EQ(config.timeouts.connect, defaults.timeouts.connect);
  EXPECT_EQ(config.timeouts.client_header, defaults.timeouts.client_header);
  EXPECT_EQ(config.timeouts.upstream_header, defaults.timeouts.upstream_header);
  EXPECT_EQ(config.timeouts.idle, defaults.timeouts.idle);
  EXPECT_EQ(config.timeouts.shutdown, defaults.timeouts.shutdown);
  EXPECT_EQ(config.timeouts.drain, defaults.timeouts.drain);
  EXPECT_EQ(config.limits.max_header_bytes, defaults.limits.max_header_bytes);
  EXPECT_EQ(config.limits.max_body_bytes, defaults.limits.max_body_bytes);
  EXPECT_EQ(config.limits.max_connections, defaults.limits.max_connections);
  EXPECT_EQ(config.forwarded_mode, defaults.forwarded_mode);
  const HealthCheck default_check;
  EXPECT_EQ(config.pools[0].health_check->interval, default_check.interval);
  EXPECT_EQ(config.pools[0].health_check->timeout, default_check.timeout);
  EXPECT_EQ(config.pools[0].health_check->healthy_threshold, default_check.healthy_threshold);
  EXPECT_EQ(config.pools[0].health_check->unhealthy_threshold, default_check.unhealthy_threshold);
  EXPECT_EQ(config.pools[0].health_check->expect_min, default_check.expect_min);
  EXPECT_EQ(config.pools[0].health_check->expect_max, default_check.expect_max);
  EXPECT_TRUE(config.routes.empty());
}

TEST(ConfigError, RendersFileLineColumnMessage) {
  const ConfigError error{
      .file = "conf/keel.yaml", .line = 14, .column = 7, .message = "unknown key 'weigth'"};
  EXPECT_EQ(error.to_string(), "conf/keel.yaml:14:7: unknown key 'weigth'");
}

}  // namespace
}  // namespace keel::config
