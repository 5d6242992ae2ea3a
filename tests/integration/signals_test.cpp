// build/keel as a child process under every signal sequence operators produce
// (reloads, logrotate, stops, in any order and in bursts): it stays alive and
// answers every request, or, for SIGTERM/SIGINT, answers what is in flight and
// exits 0.
#include "tests/support/keel_process.hpp"
#include "tests/support/load_loop.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace keel::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kSlowReply = 700ms;

class Signals : public ::testing::Test {
 protected:
  Signals()
      : access_log_path_(::testing::TempDir() + "keel-signals-" + std::to_string(::getpid()) + "-" +
                         std::to_string(counter_++) + ".log"),
        config_(config_text()) {
    backend_.set_handler([](const RecordedRequest& request) {
      return request.target == "/slow" ? Reply::text("slow done").with_delay(kSlowReply) : Reply::text("ok");
    });
  }
  ~Signals() override { std::remove(access_log_path_.c_str()); }

  void SetUp() override {
    keel_.emplace(binary_path("keel"), std::vector<std::string>{"--config", config_.path()});
    const auto line = keel_->wait_for_line("listening on ");
    ASSERT_TRUE(line) << log();
    address_ = *listening_address(*line);
  }

  std::string config_text() const {
    return "workers: 2\nlisteners:\n  - address: 127.0.0.1:0\n"
           "pools:\n  - name: web\n    backends:\n      - { address: \"" + backend_.address() + "\" }\n"
           "access_log:\n  path: " + access_log_path_ + "\n"
           "timeouts:\n  shutdown: 20s\n";
  }

  std::string log() const { return keel_ ? keel_->output(ChildProcess::Output::err) : std::string(); }

  std::size_t count(std::string_view text) const {
    const std::string all = log();
    std::size_t times = 0;
    for (auto at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++times;
    return times;
  }

  // Waits until keel logged `text` at least `times` times.
  ::testing::AssertionResult logged(std::string_view text, std::size_t times = 1) const {
    if (wait_until([&] { return count(text) >= times; }, 10s)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "never logged '" << text << "' " << times << " time(s):\n" << log();
  }

  // Waits until the load loop has had `more` further answers.
  ::testing::AssertionResult progresses(const LoadLoop& load, int more = 20) const {
    const int seen = load.requests();
    if (wait_until([&] { return load.requests() >= seen + more; }, 10s)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "traffic stalled at " << load.requests() << " requests:\n" << log();
  }

  // A request the backend answers only after kSlowReply, started and seen by the backend.
  std::future<TestResponse> slow_request_in_flight() {
    auto slow = std::async(std::launch::async, [address = address_] { return TestClient{address}.get("/slow", {}, 10s); });
    while (const auto head = backend_.next_request_head())
      if (head->target == "/slow") return slow;
    ADD_FAILURE() << "the slow request never reached the backend:\n" << log();
    return slow;
  }

  // The stop signal came while `slow` was in flight: it is answered whole, keel exits 0.
  void expect_answered_then_exit(std::future<TestResponse>& slow) {
    const auto response = slow.get();
    EXPECT_EQ(response.result(), http::status::ok) << response.ec.message() << "\n" << log();
    EXPECT_EQ(response.body(), "slow done");
    EXPECT_EQ(keel_->wait_exit(10s), 0) << log();
    EXPECT_NE(log().find("keel stopped"), std::string::npos) << log();
  }

  void reload_and_wait(std::size_t nth) {
    keel_->signal(SIGHUP);
    ASSERT_TRUE(logged(" applied (snapshot", nth));
  }

  void reopen_and_wait(std::size_t nth) {
    keel_->signal(SIGUSR1);
    ASSERT_TRUE(logged(" reopened", nth));
  }

  std::size_t access_log_lines() const {
    std::ifstream file(access_log_path_);
    std::size_t lines = 0;
    for (std::string line; std::getline(file, line);) ++lines;
    return lines;
  }

  static inline int counter_ = 0;
  TestBackend backend_;
  std::string access_log_path_;
  TempConfig config_;
  std::optional<ChildProcess> keel_;
  std::string address_;
};

TEST_F(Signals, ReloadThenLogReopenUnderLoad) {
  LoadLoop load{address_, 3};
  ASSERT_TRUE(progresses(load));
  reload_and_wait(1);
  ASSERT_TRUE(progresses(load));
  reopen_and_wait(1);
  ASSERT_TRUE(progresses(load));
  reload_and_wait(2);
  reopen_and_wait(2);
  ASSERT_TRUE(progresses(load));
  load.stop();
  EXPECT_EQ(load.failures(), 0) << "of " << load.requests();
  EXPECT_TRUE(keel_->is_running()) << log();
  EXPECT_TRUE(wait_until([&] { return access_log_lines() > 0; }, 10s));
  auto slow = slow_request_in_flight();
  keel_->signal(SIGTERM);
  expect_answered_then_exit(slow);
}

TEST_F(Signals, LogReopenThenReloadUnderLoad) {
  LoadLoop load{address_, 3};
  ASSERT_TRUE(progresses(load));
  reopen_and_wait(1);
  ASSERT_TRUE(progresses(load));
  reload_and_wait(1);
  ASSERT_TRUE(progresses(load));
  load.stop();
  EXPECT_EQ(load.failures(), 0) << "of " << load.requests();
  EXPECT_TRUE(keel_->is_running()) << log();
}

TEST_F(Signals, ReloadThenStop) {
  reload_and_wait(1);
  auto slow = slow_request_in_flight();
  keel_->signal(SIGTERM);
  expect_answered_then_exit(slow);
}

TEST_F(Signals, LogReopenThenStop) {
  reopen_and_wait(1);
  auto slow = slow_request_in_flight();
  keel_->signal(SIGTERM);
  expect_answered_then_exit(slow);
}

TEST_F(Signals, LogReopenAndReloadThenStop) {
  reopen_and_wait(1);
  reload_and_wait(1);
  auto slow = slow_request_in_flight();
  keel_->signal(SIGTERM);
  expect_answered_then_exit(slow);
}

TEST_F(Signals, FiftyReloadsInASecondUnderLoad) {
  LoadLoop load{address_, 4};
  ASSERT_TRUE(progresses(load));
  for (int i = 0; i < 50; ++i)  // back to back: the kernel may merge some, keel must take them all
    ASSERT_TRUE(keel_->signal(SIGHUP)) << "keel died after " << i << " reloads:\n" << log();
  // A lower-numbered pending signal is delivered first, and keel handles signals in
  // order: once this SIGUSR1 is logged, every SIGHUP of the burst has been handled.
  keel_->signal(SIGUSR1);
  ASSERT_TRUE(logged("signal SIGUSR1"));
  ASSERT_TRUE(logged(" applied (snapshot"));
  ASSERT_TRUE(progresses(load, 50));
  load.stop();
  EXPECT_EQ(load.failures(), 0) << "of " << load.requests();
  EXPECT_TRUE(keel_->is_running()) << log();
  EXPECT_EQ(count("rejected"), 0u) << log();
  auto slow = slow_request_in_flight();
  keel_->signal(SIGTERM);
  expect_answered_then_exit(slow);
}

TEST_F(Signals, StopDuringAReload) {
  auto slow = slow_request_in_flight();
  keel_->signal(SIGHUP);  // back to back: the stop is handled during or right after the reload
  keel_->signal(SIGTERM);
  expect_answered_then_exit(slow);
}

TEST_F(Signals, InterruptTwiceStillFinishesInFlightRequests) {
  auto slow = slow_request_in_flight();
  keel_->signal(SIGINT);
  ASSERT_TRUE(logged("signal SIGINT: finishing in-flight requests"));
  keel_->signal(SIGINT);
  ASSERT_TRUE(logged("already stopping"));
  expect_answered_then_exit(slow);
}

TEST_F(Signals, ReloadIsIgnoredOnceStopping) {
  auto slow = slow_request_in_flight();
  keel_->signal(SIGTERM);
  ASSERT_TRUE(logged("signal SIGTERM: finishing in-flight requests"));
  keel_->signal(SIGHUP);
  keel_->signal(SIGUSR1);
  ASSERT_TRUE(logged("SIGHUP: ignored, keel is stopping"));
  expect_answered_then_exit(slow);
}

// A stop must wait for in-flight requests and nothing else: no idle or parked
// keep-alive connection, pooled upstream connection or timer may hold it until
// timeouts.shutdown (20 s here) runs out. Repeated, three keels at a time under
// load, so that a race between the last connection closing and a worker's own
// timers shows up.
TEST(GracefulStop, ExitsAsSoonAsInFlightRequestsAreDoneEveryTime) {
  TestBackend backend;
  const TempConfig config("workers: 2\nlisteners:\n  - address: 127.0.0.1:0\n"
                          "pools:\n  - name: web\n    backends:\n      - { address: \"" + backend.address() +
                          "\" }\ntimeouts:\n  shutdown: 20s\n");
  constexpr int kRounds = 8;
  constexpr int kAtOnce = 3;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<ChildProcess>> keels;
    std::vector<std::unique_ptr<LoadLoop>> loads;
    for (int i = 0; i < kAtOnce; ++i) {
      keels.push_back(std::make_unique<ChildProcess>(binary_path("keel"), std::vector<std::string>{"--config", config.path()}));
      const auto line = keels.back()->wait_for_line("listening on ");
      ASSERT_TRUE(line) << keels.back()->output(ChildProcess::Output::err);
      loads.push_back(std::make_unique<LoadLoop>(*listening_address(*line), 3));
    }
    // Each round stops at another point of the traffic, so that the stop meets the
    // workers' ticks in other phases.
    for (const auto& load : loads)
      ASSERT_TRUE(wait_until([&] { return load->requests() > 30 + 40 * round; }, 10s));
    for (auto& keel : keels) keel->signal(SIGTERM);
    for (auto& keel : keels)
      EXPECT_EQ(keel->wait_exit(5s), 0) << "round " << round << ": still running 5 s after SIGTERM:\n"
                                        << keel->output(ChildProcess::Output::err);
    for (auto& load : loads) load->stop();
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace keel::test
