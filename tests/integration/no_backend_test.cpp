// When no backend is usable: the 503 names the pool and says why in one line
// (docs/health.md). The other causes, ejections and the failed-connect log are
// tested in health_explained_test.cpp.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

#include <string>

namespace keel::test {
namespace {

TEST(NoBackend, EmptyPoolSaysSo) {
  KeelUnderTest keel{make_config({PoolSpec{.name = "app", .backends = {}}})};
  TestClient client{keel.address()};
  const auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::service_unavailable) << response.ec.message();
  EXPECT_EQ(response.body(), "503 Service Unavailable: no backend available in pool app: it has no backends\n");
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
  EXPECT_EQ(response.body(), "503 Service Unavailable: no backend available in pool app: 1 draining\n");
}

}  // namespace
}  // namespace keel::test
