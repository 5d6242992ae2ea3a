// The access log end to end: one line per request in the configured format,
// written by the writer thread, reopened (logrotate style) via the API and via
// SIGUSR1 on the real binary.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace keel::test {
namespace {

namespace json = boost::json;

// A path in the test's temp dir; the file (and its rotated ".1") go with it.
class TempPath {
 public:
  explicit TempPath(const std::string& suffix)
      : path_(::testing::TempDir() + "keel-access-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter_++) + suffix) {}
  ~TempPath() {
    std::remove(path_.c_str());
    std::remove((path_ + ".1").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool wait_lines(const std::string& path, std::size_t count) {
  return wait_until([&] { return lines_of(path).size() >= count; }, std::chrono::seconds(5));
}

std::string access_log(const std::string& path, const std::string& format) {
  return "access_log: { path: \"" + path + "\", format: " + format + " }\n";
}

TEST(AccessLog, OneJsonLinePerRequest) {
  TempPath log(".log");
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, access_log(log.path(), "json"))};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/first?x=1", {{"Host", "shop.test"}, {"User-Agent", "probe/1 \"quoted\""}}).result(),
            http::status::ok);
  backend.set_reply(Reply::text("gone", http::status::not_found));
  ASSERT_EQ(client.get("/second").result(), http::status::not_found);
  client.send_raw("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");

  ASSERT_TRUE(wait_lines(log.path(), 3));
  const auto lines = lines_of(log.path());
  ASSERT_EQ(lines.size(), 3u);
  const auto first = json::parse(lines[0]).as_object();
  EXPECT_EQ(first.at("method").as_string(), "GET");
  EXPECT_EQ(first.at("target").as_string(), "/first?x=1");
  EXPECT_EQ(first.at("status").as_int64(), 200);
  EXPECT_EQ(first.at("host").as_string(), "shop.test");
  EXPECT_EQ(first.at("user_agent").as_string(), "probe/1 \"quoted\"");
  EXPECT_EQ(first.at("client").as_string(), "127.0.0.1");
  EXPECT_EQ(first.at("pool").as_string(), "web");
  EXPECT_EQ(first.at("backend").as_string(), backend.address());
  EXPECT_GT(first.at("bytes_sent").as_int64(), 0);
  const auto second = json::parse(lines[1]).as_object();
  EXPECT_EQ(second.at("status").as_int64(), 404);
  EXPECT_EQ(second.at("target").as_string(), "/second");
  const auto refused = json::parse(lines[2]).as_object();  // refused before routing
  EXPECT_EQ(refused.at("status").as_int64(), 400);
  EXPECT_EQ(refused.at("pool").as_string(), "");
}

TEST(AccessLog, ReopensAfterRenameForLogrotate) {
  TempPath log(".log");
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, access_log(log.path(), "combined"))};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/before").result(), http::status::ok);
  ASSERT_TRUE(wait_lines(log.path(), 1));
  ASSERT_EQ(std::rename(log.path().c_str(), (log.path() + ".1").c_str()), 0);
  keel.proxy().reopen_logs();
  ASSERT_TRUE(wait_until([&] { return access(log.path().c_str(), F_OK) == 0; }, std::chrono::seconds(5)));
  ASSERT_EQ(client.get("/after").result(), http::status::ok);
  ASSERT_TRUE(wait_lines(log.path(), 1));
  const auto rotated = lines_of(log.path() + ".1");
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_NE(rotated[0].find("\"GET /before HTTP/1.1\" 200 "), std::string::npos) << rotated[0];
  const auto fresh = lines_of(log.path());
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_NE(fresh[0].find("\"GET /after HTTP/1.1\" 200 "), std::string::npos) << fresh[0];
  EXPECT_TRUE(fresh[0].starts_with("127.0.0.1 - - [")) << fresh[0];
}

TEST(AccessLog, UnwritablePathStopsStartWithTheReason) {
  TestBackend backend;
  const std::string path = "/nonexistent-dir/access.log";
  const std::string yaml = single_pool_config({backend.address()}, access_log(path, "json"));
  const std::string reason = std::string("cannot open access_log ") + path + ": " + std::strerror(ENOENT);
  try {
    KeelUnderTest keel{yaml};
    ADD_FAILURE() << "keel started although it cannot open " << path;
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << error.what();
  }
  // What the operator sees: keel exits 1 and says why on stderr.
  TempPath config(".yaml");
  std::ofstream(config.path()) << yaml;
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  EXPECT_EQ(keel.wait_exit(), 1);
  EXPECT_NE(keel.output(ChildProcess::Output::err).find(reason), std::string::npos)
      << keel.output(ChildProcess::Output::err);
}

TEST(AccessLog, Sigusr1ReopensTheFile) {
  TempPath log(".log");
  TempPath config(".yaml");
  TestBackend backend;
  std::ofstream(config.path()) << single_pool_config({backend.address()}, access_log(log.path(), "combined"));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line) << keel.output(ChildProcess::Output::err);
  const auto address = listening_address(*line);
  ASSERT_TRUE(address);
  TestClient client{*address};
  ASSERT_EQ(client.get("/one").result(), http::status::ok);
  ASSERT_TRUE(wait_lines(log.path(), 1));
  ASSERT_EQ(std::rename(log.path().c_str(), (log.path() + ".1").c_str()), 0);
  keel.signal(SIGUSR1);
  ASSERT_TRUE(wait_until([&] { return access(log.path().c_str(), F_OK) == 0; }, std::chrono::seconds(5)))
      << keel.output(ChildProcess::Output::err);
  ASSERT_EQ(client.get("/two").result(), http::status::ok);
  ASSERT_TRUE(wait_lines(log.path(), 1));
  EXPECT_NE(lines_of(log.path())[0].find("GET /two"), std::string::npos);
  EXPECT_EQ(lines_of(log.path() + ".1").size(), 1u);
  keel.signal(SIGTERM);
  EXPECT_EQ(keel.wait_exit(std::chrono::seconds(10)), 0) << keel.output(ChildProcess::Output::err);
}

}  // namespace
}  // namespace keel::test
