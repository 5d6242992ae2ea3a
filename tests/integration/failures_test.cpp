// Dead, broken and slow backends: 502, 503, 504, failover, and a backend that
// dies mid-body neither hangs the client nor the worker.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/dead_port.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

TEST(Failures, GarbageFromBackendIs502) {
  TestBackend backend;
  backend.set_reply(Reply::garbage());
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::bad_gateway) << response.ec.message();
  EXPECT_EQ(response["Content-Type"], "text/plain");
}

TEST(Failures, BackendClosingWithoutAnswerIs502) {
  TestBackend backend;
  backend.set_reply(Reply::close_without_response());
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  EXPECT_EQ(client.get("/").result(), http::status::bad_gateway);
}

TEST(Failures, UnreachableBackendIs502AfterRetries) {
  const DeadPort dead_a, dead_b;
  KeelUnderTest keel{single_pool_config({dead_a.address(), dead_b.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::bad_gateway) << response.ec.message();
  EXPECT_TRUE(response.keep_alive());  // the client did nothing wrong
  EXPECT_EQ(client.get("/").result(), http::status::bad_gateway);
}

TEST(Failures, FailsOverFromClosedPort) {
  TestBackend live{"live"};
  const DeadPort dead;
  KeelUnderTest keel{single_pool_config({dead.address(), live.address()})};
  TestClient client{keel.address()};
  for (int i = 0; i < 20; ++i) {
    auto response = client.get("/");
    ASSERT_EQ(response.result(), http::status::ok) << i << " " << response.ec.message();
    EXPECT_EQ(response.body(), "ok from live");
  }
  EXPECT_EQ(live.request_count(), 20u);
}

TEST(Failures, RetriesZeroMeansNoFailover) {
  TestBackend live{"live"};
  const DeadPort dead;
  KeelUnderTest keel{make_config({PoolSpec{.backends = {dead.address(), live.address()}, .retries = 0}})};
  TestClient client{keel.address()};
  // Round-robin starts at the dead one: without retries that request fails.
  EXPECT_EQ(client.get("/").result(), http::status::bad_gateway);
  EXPECT_EQ(client.get("/").result(), http::status::ok);
}

TEST(Failures, EmptyPoolIs503WithRetryAfter) {
  KeelUnderTest keel{make_config({PoolSpec{.backends = {}}})};
  TestClient client{keel.address()};
  auto response = client.get("/");
  EXPECT_EQ(response.result(), http::status::service_unavailable) << response.ec.message();
  EXPECT_FALSE(response["Retry-After"].empty());
  EXPECT_TRUE(response.keep_alive());
}

TEST(Failures, SilentBackendIs504AfterUpstreamHeaderTimeout) {
  TestBackend backend;
  backend.set_reply(Reply::hang());
  KeelUnderTest keel{single_pool_config({backend.address()}, "timeouts:\n  upstream_header: 300ms\n")};
  TestClient client{keel.address()};
  const auto start = std::chrono::steady_clock::now();
  auto response = client.get("/", {}, std::chrono::seconds(5));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(response.result(), http::status::gateway_timeout) << response.ec.message();
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(Failures, BackendDyingMidBodyClosesTheClient) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    return request.target == "/die" ? Reply::close_mid_body(100'000, 1000) : Reply::text("fine");
  });
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  const auto start = std::chrono::steady_clock::now();
  auto response = client.get("/die", {}, std::chrono::seconds(5));
  EXPECT_TRUE(response.ec) << "a truncated body must not look complete";
  EXPECT_NE(response.ec, boost::beast::error::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  TestClient next{keel.address()};  // the worker is fine
  EXPECT_EQ(next.get("/").body(), "fine");
}

TEST(Failures, DyingChunkedResponseIsNotTerminated) {
  TestBackend backend;
  Reply reply = Reply::pattern(100'000);
  reply.chunked = true;
  reply.chunks = 10;
  reply.close_after_body_bytes = 25'000;
  backend.set_reply(reply);
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/", {}, std::chrono::seconds(5));
  EXPECT_TRUE(response.ec) << "keel must not send the last chunk for a broken body";
  EXPECT_NE(response.ec, boost::beast::error::timeout);
}

TEST(Failures, BackendRestartBetweenRequestsLosesNothing) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  for (int i = 0; i < 20; ++i) {
    // Two requests per round: the second goes over the connection keel parked
    // after the first, so there is a parked connection for the restart to break.
    ASSERT_EQ(client.get("/").result(), http::status::ok) << i;
    ASSERT_EQ(client.get("/").result(), http::status::ok) << i;
    const auto first = backend.next_request();
    const auto second = backend.next_request();
    ASSERT_TRUE(first && second) << i;
    EXPECT_EQ(first->index_on_connection, 0u) << i << ": a fresh connection after the restart";
    EXPECT_EQ(second->connection_id, first->connection_id) << i << ": the parked connection was not reused";
    EXPECT_EQ(second->index_on_connection, 1u) << i;
    backend.close_connections();  // keel's parked upstream connection goes stale
  }
  EXPECT_EQ(backend.connection_count(), 20u) << "one connection per round: the stale one is replaced once";
}

// A streamed upload cannot be replayed on a fresh connection, so a parked
// connection the backend has closed must be recognised before it is used.
TEST(Failures, BackendRestartBetweenStreamedUploadsLosesNothing) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  const std::string body(1 << 20, 'u');  // far more than keel reads with the head
  for (int i = 0; i < 5; ++i) {
    auto response = client.request("POST", "/upload", {{"Content-Type", "application/octet-stream"}}, body);
    ASSERT_EQ(response.result(), http::status::ok) << i << ": " << response.ec.message();
    auto seen = backend.next_request();
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->body.size(), body.size());
    backend.close_connections();  // keel's parked upstream connection goes stale
  }
}

TEST(Failures, ClientAbandoningUploadIsClosedOnBothSides) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n" +
                               std::string(1000, 'x')));
  ASSERT_TRUE(backend.next_request_head());
  client.shutdown_send();  // gives up mid-body
  auto raw = client.read_raw_until_close_or(std::chrono::seconds(5));
  EXPECT_TRUE(raw.closed);
  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, std::chrono::seconds(3)));
  EXPECT_EQ(backend.request_count(), 0u);
}

}  // namespace
}  // namespace keel::test
