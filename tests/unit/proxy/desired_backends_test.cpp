#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/metrics/desired_backends.hpp"

namespace keel::metrics {
namespace {

TEST(DesiredBackendsGauge, OneSamplePerAutoscaledPool) {
  const std::vector<admin::AutoscaleInfo> pools = {
      {.pool = "web", .current = 2, .desired = 5, .observed_concurrency = 41.5, .mode = "panic"},
      {.pool = "api", .current = 0, .desired = 0, .observed_concurrency = 0, .mode = "stable"}};
  std::string out = "keel_client_connections 3\n";
  append_desired_backends(out, pools);
  EXPECT_EQ(out,
            "keel_client_connections 3\n"
            "# HELP keel_pool_desired_backends Backends the autoscaler recommends for the pool.\n"
            "# TYPE keel_pool_desired_backends gauge\n"
            "keel_pool_desired_backends{pool=\"web\"} 5\n"
            "keel_pool_desired_backends{pool=\"api\"} 0\n");
}

TEST(DesiredBackendsGauge, NothingWithoutAutoscaledPools) {
  std::string out;
  append_desired_backends(out, {});
  EXPECT_EQ(out, "");
}

TEST(DesiredBackendsGauge, LabelValuesAreEscaped) {
  const std::vector<admin::AutoscaleInfo> pools = {
      {.pool = "a\"b\\c\nd", .current = 1, .desired = 1, .observed_concurrency = 0, .mode = "stable"}};
  std::string out;
  append_desired_backends(out, pools);
  EXPECT_NE(out.find("keel_pool_desired_backends{pool=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace keel::metrics
