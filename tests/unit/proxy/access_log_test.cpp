// Access log lines (combined and JSON, hostile input) and the worker ring.
#include "proxy/log/access_log.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace keel::log {
namespace {

using namespace std::chrono_literals;

AccessEntry sample_entry() {
  // 2026-11-23T19:30:05.042Z
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795462205042));
  return AccessEntry{.time = time,
                     .client_ip = "192.0.2.7",
                     .method = "GET",
                     .target = "/a?b=1",
                     .version = 11,
                     .status = 200,
                     .response_bytes = 1234,
                     .referer = "",
                     .user_agent = "curl/7.88.1",
                     .host = "shop.test",
                     .pool = "web",
                     .backend = "127.0.0.1:8081",
                     .duration = 1500us};
}

TEST(AccessLogFormat, Combined) {
  std::string line;
  format_combined(line, sample_entry());
  EXPECT_EQ(line, "192.0.2.7 - - [23/Nov/2026:19:30:05 +0000] \"GET /a?b=1 HTTP/1.1\" 200 1234 \"-\" \"curl/7.88.1\"\n");
}

TEST(AccessLogFormat, Json) {
  std::string line;
  format_json(line, sample_entry());
  EXPECT_EQ(line,
            "{\"time\":\"2026-11-23T19:30:05.042Z\",\"client\":\"192.0.2.7\",\"method\":\"GET\",\"target\":\"/a?b=1\","
            "\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes_sent\":1234,\"duration_us\":1500,\"host\":\"shop.test\","
            "\"referer\":\"\",\"user_agent\":\"curl/7.88.1\",\"pool\":\"web\",\"backend\":\"127.0.0.1:8081\"}\n");
}

TEST(AccessLogFormat, HostileInputStaysOneValidLine) {
  AccessEntry entry = sample_entry();
  const std::string hostile = std::string("a\"b\\c\nd\re\tf\x01g\x7f") + "\xff\xc3\xa9" + "}{";
  entry.target = hostile;
  entry.user_agent = hostile;
  entry.referer = "\"; rm -rf /";

  std::string json;
  format_json(json, entry);
  ASSERT_EQ(json.find('\n'), json.size() - 1);
  const auto parsed = boost::json::parse(json);  // throws if not valid JSON
  // Each byte >= 0x80 comes back as U+0080..U+00FF: two UTF-8 bytes.
  EXPECT_EQ(parsed.at("target").as_string().size(), hostile.size() + 3);
  EXPECT_EQ(parsed.at("referer").as_string(), "\"; rm -rf /");
  EXPECT_NE(json.find(R"(a\"b\\c\u000ad\u000de\u0009f\u0001g\u007f\u00ff\u00c3\u00a9}{)"), std::string::npos);

  std::string combined;
  format_combined(combined, entry);
  ASSERT_EQ(combined.find('\n'), combined.size() - 1);
  EXPECT_NE(combined.find(R"("GET a\x22b\x5cc\x0ad\x0de\x09f\x01g\x7f\xff\xc3\xa9}{ HTTP/1.1")"), std::string::npos);
  EXPECT_NE(combined.find(R"("\x22; rm -rf /")"), std::string::npos);
}

TEST(AccessLogFormat, NoAnswerIs499AndHttp10AndEmptyFields) {
  AccessEntry entry{};
  entry.time = std::chrono::system_clock::time_point{};  // the epoch
  entry.version = 10;
  std::string line;
  format_combined(line, entry);
  EXPECT_EQ(line, "- - - [01/Jan/1970:00:00:00 +0000] \"- - HTTP/1.0\" 499 0 \"-\" \"-\"\n");
}

TEST(AccessLogFormat, DatesAcrossYearsAndLeapDays) {
  struct Case {
    std::int64_t ms;
    const char* expected;
  };
  for (const Case& c : {Case{951782400000, "[29/Feb/2000:00:00:00 +0000]"},
                        Case{1709251199999, "[29/Feb/2024:23:59:59 +0000]"},
                        Case{4102444800000, "[01/Jan/2100:00:00:00 +0000]"},
                        Case{1704067199000, "[31/Dec/2023:23:59:59 +0000]"}}) {
    AccessEntry entry = sample_entry();
    entry.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(c.ms));
    std::string line;
    format_combined(line, entry);
    EXPECT_NE(line.find(c.expected), std::string::npos) << line;
  }
}

TEST(LineRing, KeepsOrderAcrossTheWrapAndRefusesWhatDoesNotFit) {
  LineRing ring(16);
  std::string out;
  EXPECT_TRUE(ring.push("0123456789"));
  EXPECT_FALSE(ring.push("abcdefg"));  // 10 + 7 > 16: all or nothing
  ring.drain(out);
  EXPECT_EQ(out, "0123456789");
  EXPECT_TRUE(ring.push("abcdefghijkl"));  // wraps past the end
  EXPECT_TRUE(ring.push("WXYZ"));
  EXPECT_FALSE(ring.push("!"));
  out.clear();
  ring.drain(out);
  EXPECT_EQ(out, "abcdefghijklWXYZ");
  out.clear();
  ring.drain(out);
  EXPECT_EQ(out, "");
}

TEST(AccessLogWriter, CountsDropsWhenTheRingIsFull) {
  AccessLogWriter writer(config::AccessLogFormat::combined, 256);
  for (int i = 0; i < 5; ++i) writer.write(sample_entry());  // ~100 bytes each
  EXPECT_EQ(writer.dropped(), 3u);
  std::string out;
  writer.ring().drain(out);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
}

}  // namespace
}  // namespace keel::log
