// build/keel as a child process: command line, "listening on", graceful SIGTERM.
#include "tests/support/keel_process.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/load_loop.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <atomic>
#include <future>
#include <thread>

namespace keel::test {
namespace {

std::string config_for(const std::string& backend, const std::string& extra = {}) {
  return "workers: 2\nlisteners:\n  - address: 127.0.0.1:0\npools:\n  - name: web\n    backends:\n"
         "      - { address: \"" + backend + "\" }\n" + extra;
}

TEST(Process, VersionAndHelp) {
  ChildProcess version(binary_path("keel"), {"--version"});
  EXPECT_EQ(version.wait_exit(), 0);
  EXPECT_EQ(version.output().rfind("keel ", 0), 0u) << version.output();
  ChildProcess help(binary_path("keel"), {"--help"});
  EXPECT_EQ(help.wait_exit(), 0);
  EXPECT_NE(help.output().find("--check-config"), std::string::npos);
  ChildProcess bad(binary_path("keel"), {"--bogus"});
  EXPECT_EQ(bad.wait_exit(), 2);
}

TEST(Process, CheckConfigAcceptsTheDefaultConfig) {
  ChildProcess check(binary_path("keel"), {"--check-config", std::string(KEEL_SOURCE_DIR) + "/conf/keel.yaml"});
  EXPECT_EQ(check.wait_exit(), 0) << check.output(ChildProcess::Output::err);
}

TEST(Process, CheckConfigReportsEveryErrorWithItsPlace) {
  TempConfig config("listeners:\n  - address: 127.0.0.1:0\npools:\n  - name: web\n    backends:\n"
                    "      - { address: \"127.0.0.1:1\", weigth: 2 }\ntimeouts:\n  connect: soon\n");
  ChildProcess check(binary_path("keel"), {"--check-config", config.path()});
  EXPECT_EQ(check.wait_exit(), 1);
  const std::string errors = check.output(ChildProcess::Output::err);
  EXPECT_NE(errors.find(config.path() + ":6:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("weigth"), std::string::npos) << errors;
  EXPECT_NE(errors.find(config.path() + ":8:"), std::string::npos) << errors;
}

TEST(Process, RefusesToStartOnABadConfig) {
  TempConfig config("listeners: nope\n");
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  EXPECT_EQ(keel.wait_exit(), 1);
  EXPECT_NE(keel.output(ChildProcess::Output::err).find(config.path() + ":1:"), std::string::npos);
}

TEST(Process, ServesAndStopsGracefullyOnSigterm) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    return request.target == "/slow" ? Reply::text("slow done").with_delay(std::chrono::milliseconds(700))
                                     : Reply::text("quick");
  });
  TempConfig config(config_for(backend.address()));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line) << keel.output(ChildProcess::Output::err);
  const auto address = listening_address(*line);
  ASSERT_TRUE(address);

  EXPECT_EQ(TestClient{*address}.get("/").body(), "quick");
  auto slow = std::async(std::launch::async, [&] { return TestClient{*address}.get("/slow"); });
  ASSERT_TRUE(backend.next_request_head());  // the slow request is in flight...
  ASSERT_TRUE(backend.next_request_head());
  keel.signal(SIGTERM);                       // ...when the stop comes
  auto response = slow.get();
  EXPECT_EQ(response.result(), http::status::ok) << response.ec.message();
  EXPECT_EQ(response.body(), "slow done");
  EXPECT_EQ(keel.wait_exit(std::chrono::seconds(10)), 0) << keel.output(ChildProcess::Output::err);
  TestClient refused{*address};
  EXPECT_TRUE(refused.connect_error() || !refused.get("/").ok());
}

TEST(Process, SighupReloadsUnderLoadWithoutFailures) {
  TestBackend a{"a"}, b{"b"};
  TempConfig config(config_for(a.address()));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line) << keel.output(ChildProcess::Output::err);
  const auto address = *listening_address(*line);
  LoadLoop load{address, 3};
  ASSERT_TRUE(wait_until([&] { return load.requests() > 50; }, std::chrono::seconds(5)));
  for (int round = 0; round < 6; ++round) {
    std::ofstream(config.path()) << config_for(round % 2 ? a.address() : b.address());
    keel.signal(SIGHUP);
    const std::string applied = "applied (snapshot";
    ASSERT_TRUE(wait_until(
        [&] {
          const auto log = keel.output(ChildProcess::Output::err);
          std::size_t count = 0;
          for (auto at = log.find(applied); at != std::string::npos; at = log.find(applied, at + 1)) ++count;
          return count >= static_cast<std::size_t>(round + 1);
        },
        std::chrono::seconds(5)))
        << keel.output(ChildProcess::Output::err);
    const int seen = load.requests();
    ASSERT_TRUE(wait_until([&] { return load.requests() > seen + 20; }, std::chrono::seconds(5)));
  }
  load.stop();
  EXPECT_EQ(load.failures(), 0) << "of " << load.requests();
  EXPECT_GT(a.request_count(), 0u);
  EXPECT_GT(b.request_count(), 0u);
}

TEST(Process, BrokenConfigOnSighupKeepsTheOldOneServing) {
  TestBackend a{"a"};
  TempConfig config(config_for(a.address()));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line);
  std::ofstream(config.path()) << "pools:\n  - name: web\n    balance: sideways\n";
  keel.signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] { return keel.output(ChildProcess::Output::err).find("rejected") != std::string::npos; },
      std::chrono::seconds(5)));
  EXPECT_NE(keel.output(ChildProcess::Output::err).find(config.path() + ":3:"), std::string::npos)
      << keel.output(ChildProcess::Output::err);
  EXPECT_EQ(TestClient{*listening_address(*line)}.get("/").body(), "ok from a");
  EXPECT_TRUE(keel.is_running());
}

TEST(Process, AdminChangeSurvivesKillAndRestart) {
  TestBackend a{"a"}, b{"b"};
  const std::string state = ::testing::TempDir() + "keel-state-" + std::to_string(::getpid()) + ".json";
  std::remove(state.c_str());
  TempConfig config(config_for(a.address(), "admin:\n  address: 127.0.0.1:0\nstate_file: " + state + "\n"));
  std::string admin_address;
  {
    ChildProcess keel(binary_path("keel"), {"--config", config.path()});
    ASSERT_TRUE(keel.wait_for_line("listening on "));
    auto admin_line = keel.wait_for_line("admin listening on ");
    ASSERT_TRUE(admin_line) << keel.output(ChildProcess::Output::err);
    admin_address = admin_line->substr(std::string("admin listening on ").size());
    TestClient admin{admin_address};
    ASSERT_EQ(admin.request("POST", "/api/v1/pools/web/backends", {}, R"({"address":")" + b.address() + R"(","weight":2})")
                  .result(),
              http::status::created);
    ASSERT_EQ(admin.request("DELETE", "/api/v1/pools/web/backends/" + a.address()).result(), http::status::accepted);
    keel.signal(SIGKILL);
    ASSERT_TRUE(keel.wait_exit());
  }
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line) << keel.output(ChildProcess::Output::err);
  TestClient client{*listening_address(*line)};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client.get("/").body(), "ok from b");
  std::remove(state.c_str());
}

TEST(Process, CorruptStateFileIsReported) {
  TestBackend a{"a"};
  const std::string state = ::testing::TempDir() + "keel-corrupt-" + std::to_string(::getpid()) + ".json";
  std::ofstream(state) << "{ not json";
  TempConfig config(config_for(a.address(), "state_file: " + state + "\n"));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  EXPECT_EQ(keel.wait_exit(), 1);
  EXPECT_NE(keel.output(ChildProcess::Output::err).find(state), std::string::npos)
      << keel.output(ChildProcess::Output::err);
  std::remove(state.c_str());
}

}  // namespace
}  // namespace keel::test
