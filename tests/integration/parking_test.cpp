// Keep-alive clients idle for 100-200 ms are parked by their worker: the
// coroutine and the input buffer go, a readiness callback stays. A parked
// connection must behave exactly like an idle one: serve its next request
// (also one split across writes), close at the idle timeout, close on shutdown.
#include "proxy/server.hpp"
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

using std::chrono::milliseconds;

bool wait_parked(KeelUnderTest& keel, std::size_t count) {
  // No event says "parked": poll the worker's count, bounded.
  return wait_until([&] { return keel.proxy().server().parked_clients() == count; }, milliseconds(3000));
}

TEST(Parking, ParkedConnectionServesItsNextRequestsOnTheSameConnection) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/first").result(), http::status::ok);
  ASSERT_TRUE(wait_parked(keel, 1));
  const auto local = client.local_address();
  auto second = client.get("/second");
  ASSERT_EQ(second.result(), http::status::ok) << second.ec.message();
  EXPECT_EQ(client.local_address(), local);  // no reconnect happened
  EXPECT_EQ(keel.proxy().server().parked_clients(), 0u);
  ASSERT_TRUE(wait_parked(keel, 1));  // and it parks again
  EXPECT_EQ(client.get("/third").result(), http::status::ok);
}

TEST(Parking, ParkedConnectionTakesARequestSplitAcrossWrites) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/first").result(), http::status::ok);
  ASSERT_TRUE(wait_parked(keel, 1));
  ASSERT_FALSE(client.send_raw("GET /split HTTP/1.1\r\nHo"));
  ASSERT_TRUE(wait_parked(keel, 0));  // woken by the first bytes, waiting for the rest
  ASSERT_FALSE(client.send_raw("st: keel.test\r\n\r\n"));
  auto response = client.read_response();
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  ASSERT_TRUE(backend.next_request());  // /first
  auto split = backend.next_request();
  ASSERT_TRUE(split);
  EXPECT_EQ(split->target, "/split");
  EXPECT_EQ(split->at("Host"), "keel.test");
}

TEST(Parking, ParkedConnectionClosesAtTheIdleTimeout) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "timeouts: { idle: 600ms }\n")};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/").result(), http::status::ok);
  ASSERT_TRUE(wait_parked(keel, 1));
  EXPECT_TRUE(client.wait_closed(milliseconds(3000)));
  EXPECT_TRUE(wait_parked(keel, 0));
}

TEST(Parking, ParkedClientThatClosesIsForgotten) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  {
    TestClient client{keel.address()};
    ASSERT_EQ(client.get("/").result(), http::status::ok);
    ASSERT_TRUE(wait_parked(keel, 1));
  }
  EXPECT_TRUE(wait_parked(keel, 0));
  EXPECT_TRUE(wait_until([&] { return keel.proxy().server().client_connections() == 0; }, milliseconds(3000)));
}

TEST(Parking, ShutdownClosesParkedConnectionsAtOnce) {
  TestBackend backend;
  auto keel = std::make_unique<KeelUnderTest>(single_pool_config({backend.address()}));
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<TestClient>(keel->address()));
    ASSERT_EQ(clients.back()->get("/").result(), http::status::ok);
  }
  ASSERT_TRUE(wait_parked(*keel, 5));
  const auto started = std::chrono::steady_clock::now();
  keel->proxy().stop(milliseconds(10000));  // a grace period it must not need
  keel->proxy().wait();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(2000));
  for (auto& client : clients) EXPECT_TRUE(client->wait_closed(milliseconds(1000)));
}

}  // namespace
}  // namespace keel::test
