// When no backend is usable: the 503 says why in one line, and failed connects
// are logged without flooding the log (docs/exchange.md).
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/dead_port.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

#include <string>

namespace keel::test {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

TEST(NoBackend, EmptyPoolSaysSo) {
  KeelUnderTest keel{make_config({PoolSpec{.name = "app", .backends = {}}})};
  TestClient client{keel.address()};
  const auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::service_unavailable) << response.ec.message();
  EXPECT_EQ(response.body(), "503 Service Unavailable: pool app has no backends\n");
  EXPECT_EQ(response["Retry-After"], "1");
  EXPECT_TRUE(response.keep_alive());
}

TEST(NoBackend, AllDrainingSaysSo) {
  TestBackend a{"a"};
  KeelUnderTest keel{make_config({PoolSpec{.name = "app", .backends = {a.address()}}},
                                 "admin:\n  address: 127.0.0.1:0\n")};
  TestClient admin{keel.admin_address()};
  ASSERT_EQ(admin.request("PATCH", "/api/v1/pools/app/backends/" + a.address(), {}, R"({"state":"draining"})")
                .result(),
            http::status::ok);
  ASSERT_TRUE(keel.control().wait_installed(keel.control().published_version(), std::chrono::seconds(5)));
  const auto response = TestClient{keel.address()}.get("/");
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(response.body(), "503 Service Unavailable: all backends of pool app are draining\n");
}

TEST(NoBackend, EjectedBackendIsNotHealthy) {
  const DeadPort dead;
  std::string yaml = make_config({PoolSpec{.name = "app", .backends = {dead.address()}, .retries = 0}});
  yaml.insert(yaml.find("    backends:"), "    passive: { max_fails: 1, fail_timeout: 30s }\n");
  KeelUnderTest keel{yaml};
  TestClient client{keel.address()};
  const auto first = client.get("/");
  EXPECT_EQ(first.result(), http::status::bad_gateway);
  EXPECT_EQ(first.body(), "502 Bad Gateway: backend unreachable\n");
  const auto second = client.get("/");  // ejected by the failed connect
  EXPECT_EQ(second.result(), http::status::service_unavailable);
  EXPECT_EQ(second.body(), "503 Service Unavailable: no healthy backend in pool app\n");
}

TEST(NoBackend, FailedConnectsAreLoggedOncePerInterval) {
  const DeadPort dead;
  KeelUnderTest keel{make_config({PoolSpec{.name = "app", .backends = {dead.address()}, .retries = 0}})};
  TestClient client{keel.address()};
  testing::internal::CaptureStderr();
  // Each 502 is answered after its failure was (or was not) logged.
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client.get("/").result(), http::status::bad_gateway) << i;
  const std::string log = testing::internal::GetCapturedStderr();
  const std::string line = "pool app: connecting to backend " + dead.address() + " failed: ";
  EXPECT_EQ(count(log, line), 1u) << log;
  EXPECT_EQ(count(log, "Connection refused"), 1u) << log;
}

}  // namespace
}  // namespace keel::test
