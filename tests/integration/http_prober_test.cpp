// The health checker's I/O half: HttpProber against real sockets and AsioScheduler
// on a real io_context, both run on the test thread.
#include "proxy/control/asio_scheduler.hpp"
#include "proxy/control/http_prober.hpp"
#include "tests/support/dead_port.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/wait.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace keel::test {
namespace {

namespace asio = boost::asio;
using control::AsioScheduler;
using control::HttpProber;
using health::CheckSettings;
using health::ProbeResult;
using Clock = std::chrono::steady_clock;

struct Outcome {
  std::optional<ProbeResult> result;
  int calls = 0;
  Clock::duration elapsed{};
};

// One probe on a fresh io_context, run on this thread until nothing is left to do
// (the probe holds the only work), bounded by kDefaultDeadline.
Outcome probe_once(const std::string& address, const CheckSettings& settings = {}) {
  asio::io_context ioc;
  HttpProber prober{ioc};
  Outcome outcome;
  const auto start = Clock::now();
  prober.probe({.backend_id = 1, .address = address}, settings, [&](ProbeResult result) {
    ++outcome.calls;
    outcome.elapsed = Clock::now() - start;
    outcome.result = std::move(result);
  });
  EXPECT_EQ(outcome.calls, 0) << "done must not run within probe()";
  ioc.run_for(kDefaultDeadline);
  EXPECT_TRUE(ioc.stopped()) << "probe still running at the deadline";
  EXPECT_EQ(outcome.calls, 1);
  return outcome;
}

// Runs `ioc` on this thread until `done()` holds or `deadline` passes.
bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
               std::chrono::milliseconds deadline) {
  const Deadline until{deadline};
  while (!done() && !until.is_expired()) {
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(HttpProber, PassesOn200) {
  TestBackend backend;
  const auto outcome = probe_once(backend.address());
  ASSERT_TRUE(outcome.result);
  EXPECT_TRUE(outcome.result->passed);
  EXPECT_EQ(outcome.result->detail, "status 200");
}

TEST(HttpProber, FailsOn500) {
  TestBackend backend;
  backend.set_reply(Reply::text("broken", http::status::internal_server_error));
  const auto outcome = probe_once(backend.address());
  ASSERT_TRUE(outcome.result);
  EXPECT_FALSE(outcome.result->passed);
  EXPECT_EQ(outcome.result->detail, "status 500");
}

TEST(HttpProber, ExpectedStatusRangeIsInclusive) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    // "/status/NNN" answers NNN.
    const auto code = std::stoi(request.target.substr(request.target.rfind('/') + 1));
    return Reply::text("", static_cast<http::status>(code));
  });
  struct Case {
    unsigned status;
    std::uint16_t min;
    std::uint16_t max;
    bool passed;
  };
  const std::vector<Case> cases = {
      {200, 200, 399, true},  {399, 200, 399, true},  {301, 200, 399, true},
      {400, 200, 399, false}, {404, 200, 399, false}, {503, 200, 399, false},
      {204, 204, 204, true},  {200, 204, 204, false}, {205, 204, 204, false},
      {500, 500, 599, true},  {599, 500, 599, true},  {499, 500, 599, false},
  };
  for (const auto& c : cases) {
    CheckSettings settings;
    settings.path = "/status/" + std::to_string(c.status);
    settings.expect_min = c.min;
    settings.expect_max = c.max;
    const auto outcome = probe_once(backend.address(), settings);
    ASSERT_TRUE(outcome.result) << c.status;
    EXPECT_EQ(outcome.result->passed, c.passed)
        << c.status << " against " << c.min << "-" << c.max;
    EXPECT_EQ(outcome.result->detail, "status " + std::to_string(c.status));
  }
}

TEST(HttpProber, SendsThePathHostAndNothingElse) {
  TestBackend backend;
  CheckSettings settings;
  settings.path = "/internal/health?probe=1";
  ASSERT_TRUE(probe_once(backend.address(), settings).result);
  const auto seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->method, "GET");
  EXPECT_EQ(seen->target, "/internal/health?probe=1");
  EXPECT_EQ(seen->version, 11u);
  EXPECT_EQ(seen->headers, (Headers{{"Host", backend.address()},
                                    {"User-Agent", "keel-health-check"},
                                    {"Connection", "close"}}));
  EXPECT_TRUE(seen->body.empty());
  EXPECT_EQ(backend.connection_count(), 1u);
}

TEST(HttpProber, HangingBackendFailsAtTheTimeout) {
  TestBackend backend;
  backend.set_reply(Reply::hang());
  CheckSettings settings;
  // Longer than the default (1 s), so ending at or after it shows this timeout is
  // the one applied; the upper bound (well before probe_once gives up at 5 s)
  // shows it ends there instead of hanging, with room for a loaded machine.
  settings.timeout = 1500ms;
  ASSERT_GT(settings.timeout, CheckSettings{}.timeout);
  const auto outcome = probe_once(backend.address(), settings);
  ASSERT_TRUE(outcome.result);
  EXPECT_FALSE(outcome.result->passed);
  EXPECT_EQ(outcome.result->detail, "timeout after 1500ms");
  EXPECT_GE(outcome.elapsed, 1500ms);
  EXPECT_LT(outcome.elapsed, 1500ms + 2500ms);
  EXPECT_TRUE(backend.next_request(2s));  // it did get the request
}

TEST(HttpProber, ClosedPortFailsQuickly) {
  const DeadPort closed;
  CheckSettings settings;
  settings.timeout = 5s;
  const auto outcome = probe_once(closed.address(), settings);
  ASSERT_TRUE(outcome.result);
  EXPECT_FALSE(outcome.result->passed);
  EXPECT_EQ(outcome.result->detail, "connection refused");
  EXPECT_LT(outcome.elapsed, 2500ms) << "at the refusal, not at the 5 s timeout";
}

TEST(HttpProber, ReadsOnlyTheHead) {
  // A body that would take seconds to arrive does not hold the probe up.
  TestBackend backend;
  backend.set_reply(Reply::streamed(std::string(3000, 'x'), 3, 2s));
  CheckSettings settings;
  settings.timeout = 1s;
  const auto outcome = probe_once(backend.address(), settings);
  ASSERT_TRUE(outcome.result);
  EXPECT_TRUE(outcome.result->passed);
  EXPECT_EQ(outcome.result->detail, "status 200");
  EXPECT_LT(outcome.elapsed, 1s);
}

TEST(HttpProber, InvalidResponses) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    if (request.target == "/garbage") return Reply::garbage();
    if (request.target == "/big-head")
      return Reply::text("ok").with_header("X-Padding", std::string(20 * 1024, 'p'));
    return Reply::close_without_response();
  });
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/garbage", "invalid response"},
      {"/big-head", "invalid response: head over 16 KiB"},
      {"/close", "connection closed without a response"},
  };
  for (const auto& [path, detail] : cases) {
    CheckSettings settings;
    settings.path = path;
    const auto outcome = probe_once(backend.address(), settings);
    ASSERT_TRUE(outcome.result) << path;
    EXPECT_FALSE(outcome.result->passed) << path;
    EXPECT_EQ(outcome.result->detail, detail) << path;
  }
}

TEST(HttpProber, BadAddressOrPathFailsWithoutThrowing) {
  for (const std::string address : {"not-an-address", "127.0.0.1", "localhost:80", "1.2.3.4:99999",
                                    "::1:80", ""}) {
    const auto outcome = probe_once(address);
    ASSERT_TRUE(outcome.result) << address;
    EXPECT_FALSE(outcome.result->passed);
    EXPECT_EQ(outcome.result->detail.rfind("invalid address '" + address + "': ", 0), 0u)
        << outcome.result->detail;
  }
  TestBackend backend;
  for (const std::string path : {"/a b", "/a\r\nX-Injected: 1", "relative", ""}) {
    CheckSettings settings;
    settings.path = path;
    const auto outcome = probe_once(backend.address(), settings);
    ASSERT_TRUE(outcome.result) << path;
    EXPECT_EQ(outcome.result->detail, "invalid path '" + path + "'");
  }
  EXPECT_EQ(backend.connection_count(), 0u);
}

TEST(HttpProber, AcceptsBracketedIPv6) {
  // Whether or not ::1 is up here, the address parses and a connection is tried.
  const auto outcome = probe_once("[::1]:1");
  ASSERT_TRUE(outcome.result);
  EXPECT_FALSE(outcome.result->passed);
  EXPECT_EQ(outcome.result->detail.find("invalid address"), std::string::npos)
      << outcome.result->detail;
}

TEST(HttpProber, ConcurrentProbesEachCompleteOnce) {
  TestBackend ok{"ok"};
  TestBackend bad{"bad"};
  bad.set_reply(Reply::text("no", http::status::service_unavailable));
  asio::io_context ioc;
  HttpProber prober{ioc};
  std::vector<int> calls(40, 0);
  std::vector<bool> passed(40, false);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const auto& backend = i % 2 == 0 ? ok : bad;
    prober.probe({.backend_id = i, .address = backend.address()}, {}, [&, i](ProbeResult result) {
      ++calls[i];
      passed[i] = result.passed;
    });
  }
  ioc.run_for(kDefaultDeadline);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i], 1) << i;
    EXPECT_EQ(passed[i], i % 2 == 0) << i;
  }
}

TEST(HttpProber, AProbeOutlivesTheProber) {
  TestBackend backend;
  asio::io_context ioc;
  std::optional<ProbeResult> result;
  {
    HttpProber prober{ioc};
    prober.probe({.backend_id = 1, .address = backend.address()}, {},
                 [&](ProbeResult r) { result = std::move(r); });
  }
  ioc.run_for(kDefaultDeadline);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->passed);
}

TEST(AsioScheduler, CallsBackAfterTheDelay) {
  asio::io_context ioc;
  AsioScheduler scheduler{ioc};
  const auto start = scheduler.now();
  EXPECT_LE(start, Clock::now());
  std::optional<Clock::time_point> called;
  scheduler.call_after(100ms, [&] { called = scheduler.now(); });
  EXPECT_FALSE(called);  // never from within call_after
  EXPECT_EQ(scheduler.pending(), 1u);
  ioc.run_for(kDefaultDeadline);  // returns once nothing is pending
  ASSERT_TRUE(called);
  EXPECT_GE(*called - start, 100ms);
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(AsioScheduler, RunsCallsInDelayOrderAndAllowsNewOnes) {
  asio::io_context ioc;
  AsioScheduler scheduler{ioc};
  std::string order;
  scheduler.call_after(90ms, [&] { order += 'c'; });
  scheduler.call_after(10ms, [&] {
    order += 'a';
    scheduler.call_after(20ms, [&] { order += 'b'; });  // from within a call
  });
  scheduler.call_after(0ms, [&] { order += '0'; });
  scheduler.call_after(-5ms, [&] { order += '-'; });  // as soon as possible
  ioc.run_for(kDefaultDeadline);
  ASSERT_EQ(order.size(), 5u);
  EXPECT_EQ(order.substr(2), "abc");
}

TEST(AsioScheduler, NothingRunsAfterStop) {
  asio::io_context ioc;
  AsioScheduler scheduler{ioc};
  int runs = 0;
  scheduler.call_after(20ms, [&] { ++runs; });
  scheduler.call_after(1h, [&] { ++runs; });
  scheduler.stop();
  EXPECT_EQ(scheduler.pending(), 0u);
  scheduler.call_after(0ms, [&] { ++runs; });  // dropped
  const auto start = Clock::now();
  ioc.run_for(kDefaultDeadline);  // nothing left: returns at once, not in an hour
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(runs, 0);
}

TEST(AsioScheduler, StopDropsCallsWhoseTimeHasAlreadyCome) {
  asio::io_context ioc;
  AsioScheduler scheduler{ioc};
  int runs = 0;
  // Both expire at once; whichever runs first stops the scheduler, and the other,
  // though its timer already fired, must not run.
  for (int i = 0; i < 2; ++i)
    scheduler.call_after(0ms, [&] {
      ++runs;
      scheduler.stop();
    });
  ioc.run_for(kDefaultDeadline);
  EXPECT_EQ(runs, 1);
}

TEST(AsioScheduler, DestroyingItCancelsPendingCalls) {
  asio::io_context ioc;
  int runs = 0;
  {
    AsioScheduler scheduler{ioc};
    scheduler.call_after(10ms, [&] { ++runs; });
    scheduler.call_after(1h, [&] { ++runs; });
  }
  const auto start = Clock::now();
  ioc.run_for(kDefaultDeadline);
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(runs, 0);
}

// Everything together, as the control plane wires it: a backend is marked healthy
// after its first passing check, unhealthy after unhealthy_threshold failures,
// healthy again after healthy_threshold passes.
TEST(AsioScheduler, DrivesACheckerAgainstARealBackend) {
  TestBackend backend;
  asio::io_context ioc;
  AsioScheduler scheduler{ioc};
  HttpProber prober{ioc};
  std::vector<std::pair<health::Health, std::string>> changes;
  health::Checker checker{prober, scheduler,
                          [&](std::uint64_t id, health::Health health, const std::string& detail) {
                            EXPECT_EQ(id, 7u);
                            changes.emplace_back(health, detail);
                          },
                          42};
  CheckSettings settings;
  settings.interval = 50ms;
  settings.timeout = 40ms;
  checker.set_targets("web", settings, {{7, backend.address()}});

  ASSERT_TRUE(run_until(ioc, [&] { return !changes.empty(); }, kDefaultDeadline));
  EXPECT_EQ(changes[0], std::pair(health::Health::healthy, std::string("status 200")));

  backend.set_reply(Reply::text("down", http::status::service_unavailable));
  ASSERT_TRUE(run_until(ioc, [&] { return changes.size() == 2; }, kDefaultDeadline));
  EXPECT_EQ(changes[1], std::pair(health::Health::unhealthy, std::string("status 503")));
  EXPECT_GE(backend.request_count(), 1u + settings.unhealthy_threshold);

  backend.set_reply(Reply::text("up"));
  ASSERT_TRUE(run_until(ioc, [&] { return changes.size() == 3; }, kDefaultDeadline));
  EXPECT_EQ(changes[2].first, health::Health::healthy);

  checker.stop();
  scheduler.stop();
  const auto requests = backend.request_count();
  run_until(ioc, [] { return false; }, 200ms);  // any probe in flight finishes
  EXPECT_LE(backend.request_count(), requests + 1);
  EXPECT_EQ(changes.size(), 3u);
}

}  // namespace
}  // namespace keel::test
