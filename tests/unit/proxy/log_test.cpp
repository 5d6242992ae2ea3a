// The operational log: levels, the text and JSON line formats.
#include "proxy/log/log.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>

namespace keel::log {
namespace {

namespace json = boost::json;

constexpr long long kTime = 1'795'451'449'123;  // 2026-11-23T16:30:49.123Z

// Restores the process-wide defaults whatever the test does.
struct DefaultsAfter {
  ~DefaultsAfter() { configure(Level::info, Format::text); }
};

TEST(LogLine, TextIsTimeLevelMessage) {
  EXPECT_EQ(format_line(Format::text, Level::warn, "pool web: backend 127.0.0.1:8081 removed", kTime),
            "2026-11-23T16:30:49Z warn pool web: backend 127.0.0.1:8081 removed\n");
  EXPECT_EQ(format_line(Format::text, Level::debug, "", kTime), "2026-11-23T16:30:49Z debug \n");
}

TEST(LogLine, JsonHasTimeLevelAndMessage) {
  const std::string line = format_line(Format::json, Level::error, "reload: conf/keel.yaml rejected", kTime);
  EXPECT_EQ(line,
            R"({"time":"2026-11-23T16:30:49.123Z","level":"error","message":"reload: conf/keel.yaml rejected"})"
            "\n");
  EXPECT_EQ(format_line(Format::json, Level::info, "x", 1'795'451'449'007),
            R"({"time":"2026-11-23T16:30:49.007Z","level":"info","message":"x"})" "\n");
}

TEST(LogLine, JsonIsValidWhateverTheMessageQuotes) {
  const std::string message = std::string("quote \" backslash \\ newline \n tab \t nul ") + '\0' +
                              " utf-8 é € 😀 invalid \xC3 \xFF \xED\xA0\x80 end";
  const std::string line = format_line(Format::json, Level::warn, message, kTime);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line
  const auto parsed = json::parse(line);
  EXPECT_EQ(parsed.at("message").as_string(),
            "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') +
                " utf-8 é € 😀 invalid \u00C3 \u00FF \u00ED\u00A0\u0080 end");
  EXPECT_NE(line.find("utf-8 é € 😀"), std::string::npos);  // valid UTF-8 passes through unescaped
}

TEST(LogLevel, ParsesTheConfigNames) {
  EXPECT_EQ(parse_level("debug"), Level::debug);
  EXPECT_EQ(parse_level("info"), Level::info);
  EXPECT_EQ(parse_level("warn"), Level::warn);
  EXPECT_EQ(parse_level("warning"), Level::warn);
  EXPECT_EQ(parse_level("error"), Level::error);
  EXPECT_EQ(parse_level("INFO"), std::nullopt);
  EXPECT_EQ(to_string(Level::warn), "warn");
}

TEST(LogLevel, LinesBelowTheLevelAreDropped) {
  DefaultsAfter restore;
  configure(Level::warn, Format::text);
  EXPECT_FALSE(enabled(Level::debug));
  EXPECT_FALSE(enabled(Level::info));
  EXPECT_TRUE(enabled(Level::warn));
  EXPECT_TRUE(enabled(Level::error));
  testing::internal::CaptureStderr();
  debug("d-line");
  info("i-line");
  warn("w-line");
  error("e-line");
  configure(Level::debug, Format::json);
  debug("json-debug-line");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("d-line"), std::string::npos) << out;
  EXPECT_EQ(out.find("i-line"), std::string::npos) << out;
  EXPECT_NE(out.find(" warn w-line\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" error e-line\n"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("level":"debug","message":"json-debug-line"})"), std::string::npos) << out;
}

TEST(LogLevel, DefaultIsInfoText) {
  EXPECT_FALSE(enabled(Level::debug));
  EXPECT_TRUE(enabled(Level::info));
  testing::internal::CaptureStderr();
  info("plain");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.substr(out.size() - 12), " info plain\n");
  EXPECT_EQ(out.size(), std::string("2026-11-23T16:30:49Z info plain\n").size());
}

}  // namespace
}  // namespace keel::log
