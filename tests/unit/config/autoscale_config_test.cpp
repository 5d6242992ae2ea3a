#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

using namespace std::chrono_literals;

// Line 5 is "    autoscale:", line 6 its first key; a value on line 6 of key K
// starts at column 7 + len(K) + 2.
std::string autoscale(const std::string& body) { return kListener + kPool + "    autoscale:\n" + body; }

TEST(AutoscaleConfig, AbsentByDefault) { EXPECT_FALSE(load_ok(kListener + kPool).pools[0].autoscale); }

TEST(AutoscaleConfig, EmptyMappingTakesTheDefaults) {
  const Config config = load_ok(kListener + kPool + "    autoscale: {}\n");
  ASSERT_TRUE(config.pools[0].autoscale);
  const Autoscale& a = *config.pools[0].autoscale;
  EXPECT_DOUBLE_EQ(a.target_concurrency, 10);
  EXPECT_EQ(a.min_backends, 1u);
  EXPECT_EQ(a.max_backends, 20u);
  EXPECT_EQ(a.stable_window, 60s);
  EXPECT_EQ(a.panic_window, 6s);
  EXPECT_FALSE(a.webhook);
  EXPECT_EQ(a.command, "");
}

TEST(AutoscaleConfig, TheInterfaceExampleAndACommand) {
  const Config config = load_ok(autoscale(
      "      target_concurrency: 10\n"
      "      min_backends: 1\n"
      "      max_backends: 20\n"
      "      stable_window: 60s\n"
      "      panic_window: 6s\n"
      "      webhook: http://127.0.0.1:9000/scale\n"
      "      command: echo \"$KEEL_POOL $KEEL_DESIRED\" >> /tmp/scale.log\n"));
  const Autoscale& a = *config.pools[0].autoscale;
  ASSERT_TRUE(a.webhook);
  EXPECT_EQ(a.webhook->url, "http://127.0.0.1:9000/scale");
  EXPECT_EQ(a.webhook->host, "127.0.0.1:9000");
  EXPECT_EQ(a.webhook->target, "/scale");
  EXPECT_EQ(a.webhook->address.endpoint.port(), 9000);
  EXPECT_EQ(a.command, "echo \"$KEEL_POOL $KEEL_DESIRED\" >> /tmp/scale.log");
}

TEST(AutoscaleConfig, ScaleFromZeroFractionalTargetAndWebhookForms) {
  const Config config = load_ok(autoscale(
      "      target_concurrency: 0.5\n"
      "      min_backends: 0\n"
      "      max_backends: 1\n"
      "      stable_window: 2s\n"
      "      panic_window: 1s\n"
      "      webhook: HTTP://localhost\n"));
  const Autoscale& a = *config.pools[0].autoscale;
  EXPECT_DOUBLE_EQ(a.target_concurrency, 0.5);
  EXPECT_EQ(a.min_backends, 0u);
  EXPECT_EQ(a.max_backends, 1u);
  EXPECT_EQ(a.stable_window, 2s);
  EXPECT_EQ(a.panic_window, 1s);
  ASSERT_TRUE(a.webhook);
  EXPECT_EQ(a.webhook->host, "localhost");
  EXPECT_EQ(a.webhook->target, "/");
  EXPECT_EQ(a.webhook->address.endpoint.port(), 80);

  const Config v6 = load_ok(autoscale("      webhook: http://[::1]:9000/hook?pool=web\n"));
  EXPECT_EQ(v6.pools[0].autoscale->webhook->host, "[::1]:9000");
  EXPECT_EQ(v6.pools[0].autoscale->webhook->target, "/hook?pool=web");
}

TEST(AutoscaleConfig, BadValuesEachWithTheirPlace) {
  expect_errors({
      {autoscale("      target_concurrency: 0\n"),
       {"6:27: pools[0].autoscale.target_concurrency must be a number greater than 0 and at most 1000000, got 0"}},
      {autoscale("      target_concurrency: -3\n"),
       {"6:27: pools[0].autoscale.target_concurrency must be a number greater than 0 and at most 1000000, got -3"}},
      {autoscale("      target_concurrency: ten\n"),
       {"6:27: expected a number for pools[0].autoscale.target_concurrency, got 'ten'"}},
      {autoscale("      target_concurrency: [1]\n"),
       {"6:27: expected a number for pools[0].autoscale.target_concurrency, got a list"}},
      {autoscale("      target_concurrency: nan\n"),
       {"6:27: expected a number for pools[0].autoscale.target_concurrency, got 'nan'"}},
      {autoscale("      min_backends: -1\n"),
       {"6:21: pools[0].autoscale.min_backends must be between 0 and 10000, got -1"}},
      {autoscale("      max_backends: 0\n"),
       {"6:21: pools[0].autoscale.max_backends must be between 1 and 10000, got 0"}},
      {autoscale("      min_backends: 3\n      max_backends: 2\n"),
       {"7:21: pools[0].autoscale.max_backends (2) must not be less than pools[0].autoscale.min_backends (3)"}},
      {autoscale("      min_backends: 30\n"),
       {"6:21: pools[0].autoscale.max_backends (20, the default) must not be less than "
        "pools[0].autoscale.min_backends (30)"}},
      {autoscale("      panic_window: 1500ms\n"),
       {"6:21: pools[0].autoscale.panic_window must be a whole number of seconds (samples are kept per "
        "second), got 1500ms"}},
      {autoscale("      stable_window: 2h\n"),
       {"6:22: pools[0].autoscale.stable_window must be at most 1h, got 2h"}},
      {autoscale("      stable_window: 6s\n      panic_window: 6s\n"),
       {"7:21: pools[0].autoscale.panic_window (6s) must be shorter than pools[0].autoscale.stable_window (6s)"}},
      {autoscale("      stable_window: 5s\n"),
       {"6:22: pools[0].autoscale.panic_window (6s, the default) must be shorter than "
        "pools[0].autoscale.stable_window (5s)"}},
      {autoscale("      panic_window: 0s\n"),
       {"6:21: pools[0].autoscale.panic_window must be greater than 0, got 0s"}},
      {autoscale("      webhook: https://127.0.0.1:9000/x\n"),
       {"6:16: invalid webhook 'https://127.0.0.1:9000/x' for pools[0].autoscale.webhook: https is not "
        "supported, use http://"}},
      {autoscale("      webhook: 127.0.0.1:9000/x\n"),
       {"6:16: invalid webhook '127.0.0.1:9000/x' for pools[0].autoscale.webhook: expected "
        "http://host:port/path"}},
      {autoscale("      webhook: http://127.0.0.1:99999/x\n"),
       {"6:16: invalid webhook 'http://127.0.0.1:99999/x' for pools[0].autoscale.webhook: the port must be from 1 to 65535"}},
      {autoscale("      webhook: http://u:p@127.0.0.1:9/x\n"),
       {"6:16: invalid webhook 'http://u:p@127.0.0.1:9/x' for pools[0].autoscale.webhook: user information in "
        "the URL is not supported"}},
      {autoscale("      command: \"  \"\n"), {"6:16: pools[0].autoscale.command must not be empty"}},
      {autoscale("      target: 10\n"), {"6:7: unknown key 'target' in pools[0].autoscale; did you mean 'target_concurrency'?"}},
      {kListener + kPool + "    autoscale: 10\n",
       {"5:16: expected a mapping for pools[0].autoscale, got '10'"}},
  });
}

TEST(AutoscaleConfig, EveryProblemAtOnce) {
  const auto errors = errors_of(autoscale(
      "      target_concurrency: 0\n"
      "      max_backends: 0\n"
      "      webhook: ftp://x\n"));
  EXPECT_EQ(errors.size(), 3u);
}

}  // namespace
}  // namespace keel::config
