// What keel tells the operator: the warning when a reload drops backends added
// through the admin API, the log level and format (applied at start and on a
// reload), and the scheme message wherever an address is accepted.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace keel::test {
namespace {

namespace json = boost::json;

constexpr std::string_view kAdmin = "admin:\n  address: 127.0.0.1:0\n";

// Restores the process-wide log settings an in-process reload changed.
struct LogDefaultsAfter {
  ~LogDefaultsAfter() { log::configure(log::Level::info, log::Format::text); }
};

std::vector<std::string> lines_with(const std::string& text, std::string_view part) {
  std::vector<std::string> found;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(part) != std::string::npos) found.push_back(line);
  return found;
}

TestResponse add_backend(const std::string& admin, const std::string& address) {
  return TestClient{admin}.request("POST", "/api/v1/pools/web/backends", {{"Content-Type", "application/json"}},
                                   R"({"address":")" + address + R"("})");
}

TEST(ReloadMessages, DroppingBackendsAddedThroughTheApiWarnsAndNamesThem) {
  TestBackend a{"a"}, b{"b"}, c{"c"}, listed{"listed"};
  TempConfig file(single_pool_config({a.address(), listed.address()}, std::string(kAdmin)));
  KeelUnderTest keel{single_pool_config({a.address(), listed.address()}, std::string(kAdmin)), file.path()};
  ASSERT_EQ(add_backend(keel.admin_address(), b.address()).result(), http::status::created);
  ASSERT_EQ(add_backend(keel.admin_address(), c.address()).result(), http::status::created);
  // The new file drops `listed` on purpose: an intended removal, not worth a warning.
  file.write(single_pool_config({a.address()}, std::string(kAdmin)));

  testing::internal::CaptureStderr();
  const auto problems = keel.proxy().reload_and_wait();
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(problems.empty());
  const auto warnings = lines_with(log, "added through the admin API");
  ASSERT_EQ(warnings.size(), 1u) << log;
  EXPECT_NE(warnings[0].find(" warn reload: pool web: backends added through the admin API are not in " +
                             file.path() + " and drain out now: " + b.address() + ", " + c.address() +
                             "; set state_file to keep admin API changes across reloads and restarts"),
            std::string::npos)
      << warnings[0];
  EXPECT_EQ(log.find(listed.address()), std::string::npos) << log;

  // Nothing left to drop: the next reload is quiet.
  testing::internal::CaptureStderr();
  EXPECT_TRUE(keel.proxy().reload_and_wait().empty());
  const std::string second = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(lines_with(second, "added through the admin API").empty()) << second;
}

TEST(ReloadMessages, WithAStateFileApiBackendsSurviveAndNothingWarns) {
  TestBackend a{"a"}, b{"b"};
  TempConfig state("", ".json");
  std::remove(state.path().c_str());  // keel creates it on the first change
  const std::string yaml =
      single_pool_config({a.address()}, std::string(kAdmin) + "state_file: " + state.path() + "\n");
  TempConfig file(yaml);
  KeelUnderTest keel{yaml, file.path()};
  ASSERT_EQ(add_backend(keel.admin_address(), b.address()).result(), http::status::created);

  testing::internal::CaptureStderr();
  EXPECT_TRUE(keel.proxy().reload_and_wait().empty());
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(lines_with(log, "added through the admin API").empty()) << log;
  const auto pool = TestClient{keel.admin_address()}.get("/api/v1/pools/web");
  EXPECT_EQ(json::parse(pool.body()).at("backends").as_array().size(), 2u) << pool.body();
}

TEST(ReloadMessages, ReloadAppliesTheLogLevelAndFormat) {
  LogDefaultsAfter restore;
  TestBackend a{"a"};
  TempConfig file(single_pool_config({a.address()}, "log: { level: warn }\n"));
  KeelUnderTest keel{single_pool_config({a.address()}), file.path()};

  testing::internal::CaptureStderr();
  EXPECT_TRUE(keel.proxy().reload_and_wait().empty());
  file.write(single_pool_config({a.address()}, "log: { level: info, format: json }\n"));
  EXPECT_TRUE(keel.proxy().reload_and_wait().empty());
  const std::string log = testing::internal::GetCapturedStderr();
  // The first reload's "applied" line is info, below the level it set; the
  // second's is written, as JSON.
  const auto applied = lines_with(log, "reload: configuration");
  ASSERT_EQ(applied.size(), 1u) << log;
  const auto line = json::parse(applied[0]);
  EXPECT_EQ(line.at("level"), "info");
  EXPECT_EQ(line.at("message").as_string().find("reload: configuration " + file.path() + " applied"), 0u);
  EXPECT_EQ(line.at("time").as_string().size(), std::string("2026-11-23T16:30:49.123Z").size());
}

TEST(ProcessMessages, LogFormatJsonAppliesFromTheFirstLine) {
  TestBackend a{"a"};
  TempConfig file(single_pool_config({a.address()}, "log: { format: json }\n"));
  ChildProcess keel(binary_path("keel"), {"--config", file.path()});
  // Lines before it (a warning about the descriptor limit, say) are JSON too: checked below.
  std::optional<std::string> started;
  while ((started = keel.wait_for_line("{", kDefaultDeadline, ChildProcess::Output::err)))
    if (started->find("keel started") != std::string::npos) break;
  ASSERT_TRUE(started) << keel.output(ChildProcess::Output::err);
  const auto line = json::parse(*started);
  EXPECT_EQ(line.at("level"), "info");
  EXPECT_EQ(line.at("message").as_string().find("keel started with 1 worker(s)"), 0u) << *started;
  keel.signal(SIGTERM);
  EXPECT_EQ(keel.wait_exit(), 0);
  for (const auto& text : lines_with(keel.output(ChildProcess::Output::err), ""))
    EXPECT_NO_THROW(json::parse(text)) << text;  // every line, "keel stopped" included
}

TEST(ProcessMessages, LogLevelErrorKeepsInfoLinesOut) {
  TestBackend a{"a"};
  TempConfig file(single_pool_config({a.address()}, "log: { level: error }\n"));
  ChildProcess keel(binary_path("keel"), {"--config", file.path()});
  ASSERT_TRUE(keel.wait_for_line("listening on"));
  keel.signal(SIGTERM);
  EXPECT_EQ(keel.wait_exit(), 0);
  EXPECT_EQ(keel.output(ChildProcess::Output::err), "");  // "keel started" and "signal SIGTERM" are info
}

// The admin API and the state file refuse a URL with the same words as the config.
TEST(AddressMessages, ASchemeIsRefusedByTheAdminApiAndTheStateFile) {
  TestBackend a{"a"};
  KeelUnderTest keel{single_pool_config({a.address()}, std::string(kAdmin))};
  const auto added = add_backend(keel.admin_address(), "http://127.0.0.1:5002");
  EXPECT_EQ(added.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(added.body()).at("error"),
            "invalid address 'http://127.0.0.1:5002': a scheme (http://) is not allowed here; write 127.0.0.1:5002");
  const auto replaced = TestClient{keel.admin_address()}.request("PUT", "/api/v1/pools/web/backends", {},
                                                                 R"([{"address":"https://app.test"}])");
  EXPECT_EQ(replaced.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(replaced.body()).at("error"),
            "invalid address 'https://app.test': a scheme (https://) is not allowed here; write app.test:443 "
            "(HTTPS is set with 'tls', not in the address)");

  TempConfig state(R"({"version": 1, "pools": {"web": [{"address": "http://127.0.0.1:5002", "weight": 1}]}})",
                   ".json");
  TempConfig config(single_pool_config({a.address()}, "state_file: " + state.path() + "\n"));
  ChildProcess refused(binary_path("keel"), {"--config", config.path()});
  EXPECT_EQ(refused.wait_exit(), 1);
  const std::string err = refused.output(ChildProcess::Output::err);
  EXPECT_NE(err.find("a scheme (http://) is not allowed here; write 127.0.0.1:5002"), std::string::npos) << err;
}

}  // namespace
}  // namespace keel::test
