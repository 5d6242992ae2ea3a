// docs/health.md: the backend JSON says why a backend is out, from
// the active checks ("check") and from passive ejection on any worker ("ejected").
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/dead_port.hpp"
#include "tests/support/keel_process.hpp"
#include "tests/support/temp_config.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <regex>

namespace keel::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kAdmin = "admin:\n  address: 127.0.0.1:0\n";

json::object backend_json(TestClient& admin, const std::string& pool, const std::string& address) {
  auto response = admin.get("/api/v1/pools/" + pool);
  if (response.result() != http::status::ok) return {};
  const json::value shown = json::parse(response.body());
  for (const auto& backend : shown.as_object().at("backends").as_array())
    if (backend.as_object().at("address").as_string() == address) return backend.as_object();
  return {};
}

std::string text_at(const json::object& object, const char* outer, const char* inner) {
  const auto* nested = object.if_contains(outer);
  if (!nested || !nested->is_object()) return "<absent>";
  const auto* value = nested->as_object().if_contains(inner);
  return value && value->is_string() ? std::string(value->as_string()) : "<absent>";
}

// Seconds since the epoch of "2026-12-04T17:00:00Z"; -1 if it is not written so.
std::time_t parse_utc(const std::string& text) {
  static const std::regex kUtc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  if (!std::regex_match(text, kUtc)) return -1;
  std::tm tm{};
  if (!strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;
  return timegm(&tm);
}

std::string with_checks(std::string yaml, const std::string& checks) {
  yaml.insert(yaml.find("    backends:"), checks);
  return yaml;
}

TEST(HealthChecks, JsonExplainsTheLastCheck) {
  TestBackend failing{"failing"}, hanging{"hanging"};
  failing.set_reply(Reply::text("down", http::status::service_unavailable));
  hanging.set_reply(Reply::hang());
  const DeadPort refused;
  KeelUnderTest keel{with_checks(
      single_pool_config({failing.address(), hanging.address(), refused.address()}, kAdmin),
      "    health_check: { interval: 200ms, timeout: 150ms, unhealthy_threshold: 2 }\n")};
  TestClient admin{keel.admin_address()};
  const auto started = std::time(nullptr);

  // The first failure decides from unknown; the second is the threshold's run.
  ASSERT_TRUE(wait_until([&] {
    for (const std::string& address : {failing.address(), hanging.address(), refused.address()}) {
      const auto backend = backend_json(admin, "web", address);
      const auto* check = backend.if_contains("check");
      if (!check || check->as_object().at("consecutive").to_number<std::int64_t>() < 2) return false;
    }
    return true;
  }, 5s));

  const auto failed = backend_json(admin, "web", failing.address());
  EXPECT_EQ(failed.at("health").as_string(), "unhealthy");
  EXPECT_EQ(text_at(failed, "check", "result"), "fail");
  EXPECT_EQ(text_at(failed, "check", "detail"), "status 503");
  const auto& check = failed.at("check").as_object();
  EXPECT_GE(check.at("latency_ms").to_number<double>(), 0.0);
  EXPECT_LT(check.at("latency_ms").to_number<double>(), 150.0);
  const auto last = parse_utc(text_at(failed, "check", "last"));
  EXPECT_GE(last, started - 1) << text_at(failed, "check", "last");
  EXPECT_LE(last, std::time(nullptr) + 1);

  const auto timed_out = backend_json(admin, "web", hanging.address());
  EXPECT_EQ(text_at(timed_out, "check", "detail"), "timeout after 150ms");
  EXPECT_GE(timed_out.at("check").as_object().at("latency_ms").to_number<double>(), 150.0);
  EXPECT_EQ(text_at(backend_json(admin, "web", refused.address()), "check", "detail"), "connection refused");
  EXPECT_FALSE(failed.contains("ejected"));
}

TEST(HealthChecks, JsonCountsTheRunOfPasses) {
  TestBackend well{"well"};
  KeelUnderTest keel{with_checks(single_pool_config({well.address()}, kAdmin),
                                 "    health_check: { interval: 100ms, timeout: 100ms }\n")};
  TestClient admin{keel.admin_address()};
  ASSERT_TRUE(wait_until([&] {
    const auto backend = backend_json(admin, "web", well.address());
    const auto* check = backend.if_contains("check");
    return check && check->as_object().at("consecutive").to_number<std::int64_t>() >= 3;
  }, 5s));
  const auto backend = backend_json(admin, "web", well.address());
  EXPECT_EQ(backend.at("health").as_string(), "healthy");
  EXPECT_EQ(text_at(backend, "check", "result"), "pass");
  EXPECT_EQ(text_at(backend, "check", "detail"), "status 200");
}

TEST(HealthChecks, PoolWithoutChecksSaysUnchecked) {
  TestBackend a{"a"};
  KeelUnderTest keel{single_pool_config({a.address()}, kAdmin)};
  TestClient admin{keel.admin_address()};
  const auto backend = backend_json(admin, "web", a.address());
  EXPECT_EQ(backend.at("health").as_string(), "unchecked");
  EXPECT_FALSE(backend.contains("check"));
  EXPECT_FALSE(backend.contains("ejected"));
}

// Without checks nothing would ever clear a verdict they left behind.
TEST(HealthChecks, ReloadWithoutChecksForgetsTheirVerdict) {
  TestBackend sick{"sick"}, well{"well"};
  sick.set_handler([](const RecordedRequest& request) {
    return request.target == "/healthz" ? Reply::text("no", http::status::service_unavailable)
                                        : Reply::text("ok from sick");
  });
  const std::string path = ::testing::TempDir() + "keel-health-reload-" + std::to_string(::getpid()) + ".yaml";
  const std::string unchecked = single_pool_config({sick.address(), well.address()}, kAdmin);
  std::ofstream(path) << with_checks(unchecked, "    health_check: { interval: 100ms, timeout: 100ms }\n");
  KeelUnderTest keel{with_checks(unchecked, "    health_check: { interval: 100ms, timeout: 100ms }\n"), path};
  TestClient admin{keel.admin_address()};
  ASSERT_TRUE(wait_until([&] { return backend_json(admin, "web", sick.address()).at("health") == "unhealthy"; }, 5s));

  std::ofstream(path) << unchecked;
  ASSERT_TRUE(keel.proxy().reload_and_wait().empty());
  ASSERT_TRUE(keel.control().wait_installed(keel.control().published_version(), 5s));
  EXPECT_EQ(backend_json(admin, "web", sick.address()).at("health"), "unchecked");
  TestClient client{keel.address()};
  int from_sick = 0;
  for (int i = 0; i < 10; ++i) from_sick += client.get("/").body() == "ok from sick";
  EXPECT_EQ(from_sick, 5) << "a backend of a pool without checks takes its share";
  std::remove(path.c_str());
}

// Ejection is a worker's own decision; the API shows it whichever worker made it.
TEST(PassiveChecks, EjectionIsShownWithItsReasonAndEnd) {
  TestBackend live{"live"};
  const DeadPort dead;
  std::string yaml = make_config({PoolSpec{.backends = {dead.address(), live.address()}, .retries = 0}}, kAdmin,
                                 /*workers=*/2);
  yaml.insert(yaml.find("    backends:"), "    passive: { max_fails: 2, fail_timeout: 1s }\n");
  KeelUnderTest keel{yaml};
  TestClient admin{keel.admin_address()};
  EXPECT_FALSE(backend_json(admin, "web", dead.address()).contains("ejected"));

  // New connections spread over the workers; each worker ejects after two of its
  // own failures, and the API shows the first such ejection.
  const auto before = std::time(nullptr);
  ASSERT_TRUE(wait_until([&] {
    TestClient{keel.address()}.get("/");
    return backend_json(admin, "web", dead.address()).contains("ejected");
  }, 5s));
  const auto backend = backend_json(admin, "web", dead.address());
  EXPECT_EQ(text_at(backend, "ejected", "reason"), "2 connect failures");
  const auto until = parse_utc(text_at(backend, "ejected", "until"));
  EXPECT_GE(until, before) << text_at(backend, "ejected", "until");
  EXPECT_LE(until, std::time(nullptr) + 2);
  EXPECT_EQ(backend.at("health").as_string(), "unchecked");
  EXPECT_FALSE(backend_json(admin, "web", live.address()).contains("ejected"));

  // Gone once fail_timeout has passed on every worker.
  EXPECT_TRUE(wait_until([&] { return !backend_json(admin, "web", dead.address()).contains("ejected"); }, 5s));
}

// docs/health.md: the 503 for a pool with no usable backend says why.
TEST(HealthChecks, NoBackendAnswerNamesTheReason) {
  TestBackend sick{"sick"}, parked{"parked"};
  sick.set_reply(Reply::text("no", http::status::service_unavailable));
  KeelUnderTest keel{with_checks(
      make_config({PoolSpec{.name = "web", .backends = {sick.address(), parked.address()}},
                   PoolSpec{.name = "empty", .backends = {}}},
                  "routes:\n  - { host: empty.test, pool: empty }\n" + kAdmin),
      "    health_check: { interval: 100ms, timeout: 100ms }\n")};
  TestClient admin{keel.admin_address()};
  ASSERT_EQ(admin.request("PATCH", "/api/v1/pools/web/backends/" + parked.address(), {}, R"({"state":"draining"})")
                .result(),
            http::status::ok);
  ASSERT_TRUE(wait_until([&] { return backend_json(admin, "web", sick.address()).at("health") == "unhealthy"; }, 5s));
  ASSERT_TRUE(keel.control().wait_installed(keel.control().published_version(), 5s));

  TestClient client{keel.address()};
  auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(response.body(), "503 Service Unavailable: no backend available in pool web: 1 unhealthy, 1 draining\n");
  response = client.get("/", {{"Host", "empty.test"}});
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(response.body(), "503 Service Unavailable: no backend available in pool empty: it has no backends\n");
}

TEST(PassiveChecks, NoBackendAnswerNamesTheEjection) {
  const DeadPort dead;
  std::string yaml = make_config({PoolSpec{.backends = {dead.address()}, .retries = 0}});
  yaml.insert(yaml.find("    backends:"), "    passive: { max_fails: 1, fail_timeout: 30s }\n");
  KeelUnderTest keel{yaml};
  TestClient client{keel.address()};
  EXPECT_EQ(client.get("/").result(), http::status::bad_gateway);  // the failure that ejects it
  const auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(response.body(), "503 Service Unavailable: no backend available in pool web: 1 ejected by passive checks\n");
}

// Failed connects are logged with the cause, but not once per request.
TEST(PassiveChecks, FailedConnectsAreLoggedRateLimited) {
  const DeadPort dead;
  TempConfig config(make_config({PoolSpec{.backends = {dead.address()}, .retries = 0}}));
  ChildProcess keel(binary_path("keel"), {"--config", config.path()});
  const auto line = keel.wait_for_line("listening on ");
  ASSERT_TRUE(line) << keel.output(ChildProcess::Output::err);
  const auto address = listening_address(*line);
  ASSERT_TRUE(address);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(TestClient{*address}.get("/").result(), http::status::bad_gateway);
  keel.signal(SIGTERM);
  ASSERT_EQ(keel.wait_exit(10s), 0);
  const std::string log = keel.output(ChildProcess::Output::err);
  const std::string expected = "warn pool web: cannot connect to backend " + dead.address() + ": connection refused\n";
  std::size_t lines = 0;
  for (auto at = log.find(expected); at != std::string::npos; at = log.find(expected, at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << log;  // one worker, well within ConnectFailureLog::kInterval
}

// A TLS handshake that fails is a failed connect too: the same rate-limited
// line, with the handshake's cause.
TEST(PassiveChecks, FailedTlsHandshakesAreLoggedRateLimited) {
  TestBackend plain{"plain"};  // answers a ClientHello with plain HTTP
  KeelUnderTest keel{"workers: 1\nlisteners:\n  - address: 127.0.0.1:0\npools:\n  - name: web\n    retries: 0\n"
                     "    tls: { verify: false }\n    backends:\n      - { address: \"" + plain.address() + "\" }\n"};
  TestClient client{keel.address()};
  testing::internal::CaptureStderr();
  // Each 502 is answered after its failure was (or was not) logged.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.get("/").result(), http::status::bad_gateway) << i;
  const std::string log = testing::internal::GetCapturedStderr();
  const std::string expected = "warn pool web: cannot connect to backend " + plain.address() + ": TLS handshake failed: ";
  std::size_t lines = 0;
  for (auto at = log.find(expected); at != std::string::npos; at = log.find(expected, at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_EQ(log.find("TLS handshake with backend"), std::string::npos) << log;  // no second, unlimited line
}

}  // namespace
}  // namespace keel::test
