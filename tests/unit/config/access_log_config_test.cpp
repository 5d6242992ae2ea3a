#include <gtest/gtest.h>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

TEST(AccessLogConfig, OffWhenAbsent) { EXPECT_FALSE(load_ok(kListener + kPool).access_log); }

TEST(AccessLogConfig, PathAndFormat) {
  const auto json = load_ok(kListener + kPool + "access_log: { path: /var/log/keel/access.log, format: json }\n");
  ASSERT_TRUE(json.access_log);
  EXPECT_EQ(json.access_log->path, "/var/log/keel/access.log");
  EXPECT_EQ(json.access_log->format, AccessLogFormat::json);
  const auto combined = load_ok(kListener + kPool + "access_log:\n  path: stdout\n");
  ASSERT_TRUE(combined.access_log);
  EXPECT_EQ(combined.access_log->path, "stdout");
  EXPECT_EQ(combined.access_log->format, AccessLogFormat::combined);  // nginx's default
}

TEST(AccessLogConfig, Errors) {
  const auto errors = [](const std::string& tail) { return errors_of(kListener + kPool + tail); };
  EXPECT_EQ(errors("access_log: { format: json }\n").size(), 1u);
  EXPECT_EQ(errors("access_log: { path: \"\" }\n").size(), 1u);
  const auto bad_format = errors("access_log: { path: stdout, format: xml }\n");
  ASSERT_EQ(bad_format.size(), 1u);
  EXPECT_NE(bad_format[0].find("expected combined or json"), std::string::npos) << bad_format[0];
  const auto unknown = errors("access_log: { path: stdout, buffer: 4096 }\n");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NE(unknown[0].find("buffer"), std::string::npos) << unknown[0];
  EXPECT_EQ(errors("access_log: stdout\n").size(), 1u);
}

}  // namespace
}  // namespace keel::config
