// Round-robin evenness, weights and least-connections over real connections.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

namespace keel::test {
namespace {

TEST(Balancing, RoundRobinIsEven) {
  TestBackend a{"a"}, b{"b"}, c{"c"};
  KeelUnderTest keel{single_pool_config({a.address(), b.address(), c.address()})};
  TestClient client{keel.address()};
  std::map<std::string, int> seen;
  for (int i = 0; i < 300; ++i) {
    auto response = client.get("/");
    ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
    ++seen[response.body()];
  }
  EXPECT_EQ(seen["ok from a"], 100);
  EXPECT_EQ(seen["ok from b"], 100);
  EXPECT_EQ(seen["ok from c"], 100);
}

TEST(Balancing, RoundRobinTakesTurnsAcrossClientConnections) {
  TestBackend a{"a"}, b{"b"};
  KeelUnderTest keel{single_pool_config({a.address(), b.address()})};
  std::string order;
  for (int i = 0; i < 6; ++i) {
    TestClient client{keel.address()};  // a new client connection every time
    order += client.get("/").body().back();
  }
  EXPECT_EQ(order, "ababab");
}

TEST(Balancing, WeightsInterleaveSmoothly) {
  TestBackend a{"a"}, b{"b"}, c{"c"};
  KeelUnderTest keel{single_pool_config({a.address() + " 5", b.address() + " 1", c.address() + " 1"})};
  TestClient client{keel.address()};
  std::string order;
  for (int i = 0; i < 700; ++i) {
    auto response = client.get("/");
    ASSERT_EQ(response.result(), http::status::ok);
    order += response.body().back();
  }
  EXPECT_EQ(order.substr(0, 7), "aabacaa");
  EXPECT_EQ(std::count(order.begin(), order.end(), 'a'), 500);
  EXPECT_EQ(std::count(order.begin(), order.end(), 'b'), 100);
  EXPECT_EQ(std::count(order.begin(), order.end(), 'c'), 100);
}

TEST(Balancing, LeastConnectionsAvoidsTheSlowBackend) {
  TestBackend slow{"slow"}, fast{"fast"};
  slow.set_reply(Reply::text("slow").with_delay(std::chrono::milliseconds(200)));
  fast.set_reply(Reply::text("fast"));
  KeelUnderTest keel{make_config({PoolSpec{.backends = {slow.address(), fast.address()},
                                           .balance = "least_conn"}})};
  constexpr int kClients = 8;
  constexpr int kRequestsEach = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&] {
      TestClient client{keel.address()};
      for (int i = 0; i < kRequestsEach; ++i)
        if (client.get("/").result() != http::status::ok) ++failures;
    });
  }
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(slow.request_count() + fast.request_count(), std::size_t{kClients * kRequestsEach});
  // Round-robin would send half (40) to the slow one; least-conn keeps it to the few
  // requests that find it idle while the fast one is busy.
  EXPECT_LT(slow.request_count(), 20u) << "slow " << slow.request_count() << " fast "
                                        << fast.request_count();
}

TEST(Balancing, LeastConnectionsHonoursWeightsWhenIdle) {
  TestBackend a{"a"}, b{"b"};
  KeelUnderTest keel{make_config({PoolSpec{.backends = {a.address() + " 3", b.address() + " 1"},
                                           .balance = "least_conn"}})};
  TestClient client{keel.address()};
  for (int i = 0; i < 400; ++i) ASSERT_EQ(client.get("/").result(), http::status::ok);
  EXPECT_EQ(a.request_count(), 300u);
  EXPECT_EQ(b.request_count(), 100u);
}

}  // namespace
}  // namespace keel::test
