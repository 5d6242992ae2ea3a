#include <gtest/gtest.h>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

TEST(Http2Config, OnByDefaultWith128Streams) {
  const Config config = load_ok(kListener + kPool);
  ASSERT_EQ(config.listeners.size(), 1u);
  EXPECT_TRUE(config.listeners[0].http2);
  EXPECT_EQ(config.limits.http2_max_concurrent_streams, 128u);
}

TEST(Http2Config, TurnedOffPerListener) {
  const Config config = load_ok(
      "listeners:\n"
      "  - address: 127.0.0.1:0\n"
      "    http2: false\n"
      "  - address: 127.0.0.1:0\n"
      "    http2: true\n" +
      kPool + "limits:\n  http2_max_concurrent_streams: 7\n");
  ASSERT_EQ(config.listeners.size(), 2u);
  EXPECT_FALSE(config.listeners[0].http2);
  EXPECT_TRUE(config.listeners[1].http2);
  EXPECT_EQ(config.limits.http2_max_concurrent_streams, 7u);
}

TEST(Http2Config, BadValuesAreErrors) {
  expect_errors({
      {"listeners:\n  - address: 127.0.0.1:0\n    http2: maybe\n" + kPool,
       {"3:12: unknown value 'maybe' for listeners[0].http2: expected true or false"}},
      {kListener + kPool + "limits:\n  http2_max_concurrent_streams: 0\n",
       {"6:33: limits.http2_max_concurrent_streams must be between 1 and 2147483647, got 0"}},
      {kListener + kPool + "limits:\n  http2_max_concurrent_streams: 2147483648\n",
       {"6:33: limits.http2_max_concurrent_streams must be between 1 and 2147483647, got 2147483648"}},
  });
}

}  // namespace
}  // namespace keel::config
