// Forwarded headers, hop-by-hop removal, keep-alive on both sides, pipelining.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

TEST(Forwarding, SetsForwardedHeadersAndVia) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/a?b=c", {{"Host", "shop.test"}});
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  EXPECT_EQ(response.body(), "ok from backend");
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->target, "/a?b=c");
  EXPECT_EQ(seen->at("Host"), "shop.test");
  EXPECT_EQ(seen->at("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(seen->at("X-Forwarded-Proto"), "http");
  EXPECT_EQ(seen->at("X-Forwarded-Host"), "shop.test");
  EXPECT_EQ(seen->at("Via"), "1.1 keel");
}

TEST(Forwarding, AppendsToExistingForwardedForAndVia) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/", {{"Host", "h"},
                                   {"X-Forwarded-For", "10.0.0.1"},
                                   {"X-Forwarded-For", "10.0.0.2, 10.0.0.3"},
                                   {"X-Forwarded-Proto", "https"},
                                   {"X-Forwarded-Host", "spoofed"},
                                   {"Via", "1.0 edge"}});
  ASSERT_EQ(response.result(), http::status::ok);
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->all("X-Forwarded-For"), std::vector<std::string>{"10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"});
  EXPECT_EQ(seen->all("X-Forwarded-Proto"), std::vector<std::string>{"http"});
  EXPECT_EQ(seen->all("X-Forwarded-Host"), std::vector<std::string>{"h"});
  EXPECT_EQ(seen->at("Via"), "1.0 edge, 1.1 keel");
}

TEST(Forwarding, ReplaceModeDropsClientForwardedFor) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "forwarded:\n  mode: replace\n")};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/", {{"X-Forwarded-For", "6.6.6.6"}}).result(), http::status::ok);
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->all("X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"});
}

TEST(Forwarding, RemovesHopByHopAndConnectionNamedHeaders) {
  TestBackend backend;
  backend.set_reply(Reply::text("x")
                        .with_header("Keep-Alive", "timeout=5")
                        .with_header("Connection", "X-Backend-Secret")
                        .with_header("X-Backend-Secret", "s")
                        .with_header("X-Kept", "k"));
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/", {{"Connection", "keep-alive, X-Secret, x-other"},
                                   {"X-Secret", "1"},
                                   {"X-Other", "2"},
                                   {"Keep-Alive", "timeout=5"},
                                   {"Proxy-Connection", "keep-alive"},
                                   {"TE", "trailers"},
                                   {"Trailer", "X-T"},
                                   {"Upgrade", "h2c"},
                                   {"X-End-To-End", "yes"}});
  ASSERT_EQ(response.result(), http::status::ok);
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  for (const char* gone : {"Connection", "X-Secret", "X-Other", "Keep-Alive", "Proxy-Connection",
                           "TE", "Trailer", "Upgrade", "Transfer-Encoding"})
    EXPECT_FALSE(seen->has(gone)) << gone << " was forwarded";
  EXPECT_EQ(seen->at("X-End-To-End"), "yes");
  EXPECT_EQ(response.count("Keep-Alive"), 0u);
  EXPECT_EQ(response.count("X-Backend-Secret"), 0u);
  EXPECT_EQ(response["X-Kept"], "k");
}

TEST(Forwarding, ConnectionHostDoesNotStripHost) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/", {{"Host", "keep.me"}, {"Connection", "host"}}).result(), http::status::ok);
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("Host"), "keep.me");
}

TEST(Forwarding, KeepAliveReusesConnectionsOnBothSides) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  const std::string client_side = client.local_address();
  for (int i = 0; i < 200; ++i) {
    auto response = client.get("/n/" + std::to_string(i));
    ASSERT_EQ(response.result(), http::status::ok) << i << " " << response.ec.message();
    ASSERT_TRUE(response.keep_alive());
  }
  EXPECT_EQ(client.local_address(), client_side);  // one client connection throughout
  EXPECT_EQ(backend.request_count(), 200u);
  EXPECT_LE(backend.connection_count(), 3u);  // sequential requests reuse one upstream connection
}

TEST(Forwarding, PipelinedRequestsAnsweredInOrder) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    // The first answer is the slowest: order must still hold.
    auto reply = Reply::text("body of " + request.target);
    if (request.target == "/1") reply.delay = std::chrono::milliseconds(100);
    return reply;
  });
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                               "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                               "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"));
  for (const char* target : {"/1", "/2", "/3"}) {
    auto response = client.read_response();
    ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
    EXPECT_EQ(response.body(), std::string("body of ") + target);
  }
}

TEST(Forwarding, HeadAnd204And304CarryNoBody) {
  TestBackend backend;
  backend.set_handler([](const RecordedRequest& request) {
    if (request.target == "/204") return Reply{.status = http::status::no_content};
    if (request.target == "/304") return Reply{.status = http::status::not_modified};
    return Reply::text("twelve bytes");
  });
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.write_request(request_with_host(http::verb::head, "/")));
  auto head = client.read_response(kDefaultDeadline, /*head_request=*/true);
  ASSERT_EQ(head.result(), http::status::ok) << head.ec.message();
  EXPECT_EQ(head["Content-Length"], "12");
  EXPECT_EQ(client.get("/204").result(), http::status::no_content);
  EXPECT_EQ(client.get("/304").result(), http::status::not_modified);
  auto after = client.get("/");  // the connection is still in sync
  EXPECT_EQ(after.body(), "twelve bytes");
}

TEST(Forwarding, Http10ClientGetsCloseDelimitedOrLengthResponse) {
  TestBackend backend;
  backend.set_reply(Reply::streamed("abcdef", 3, std::chrono::milliseconds(0)));
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET / HTTP/1.0\r\n\r\n"));
  auto raw = client.read_raw_until_close_or();
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(raw.data.find("Transfer-Encoding"), std::string::npos) << raw.data;
  EXPECT_NE(raw.data.find("\r\n\r\nabcdef"), std::string::npos) << raw.data;
}

TEST(Forwarding, RequestHeadSplitAcrossReadsIsForwarded) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  const std::string request = "GET /split HTTP/1.1\r\nHost: a\r\nCookie: " + std::string(3000, 'c') +
                              "\r\nX-Last: 1\r\n\r\n";
  for (std::size_t split : {std::size_t{5}, std::size_t{21}, std::size_t{30}, request.size() - 3,
                            request.size() - 1}) {
    TestClient client{keel.address()};
    ASSERT_FALSE(client.send_raw(request.substr(0, split)));
    ASSERT_FALSE(client.send_raw(request.substr(split)));
    auto response = client.read_response();
    ASSERT_EQ(response.result(), http::status::ok) << "split " << split << ": " << response.ec.message();
  }
  EXPECT_EQ(backend.request_count(), 5u);
}

TEST(Forwarding, Http10RequestWithoutHostGetsOne) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET /old HTTP/1.0\r\n\r\n"));
  auto raw = client.read_raw_until_close_or();
  EXPECT_EQ(raw.data.substr(0, 12), "HTTP/1.1 200") << raw.data;
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("Host"), keel.address());
  EXPECT_FALSE(seen->has("X-Forwarded-Host"));
}

TEST(Forwarding, ClientConnectionCloseIsHonoured) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/", {{"Connection", "close"}});
  ASSERT_EQ(response.result(), http::status::ok);
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(client.wait_closed());
}

TEST(Forwarding, RoutesByHostAndLongestPathPrefix) {
  TestBackend web{"web"};
  TestBackend api{"api"};
  TestBackend v2{"v2"};
  KeelUnderTest keel{make_config({PoolSpec{.name = "web", .backends = {web.address()}},
                                  PoolSpec{.name = "api", .backends = {api.address()}},
                                  PoolSpec{.name = "v2", .backends = {v2.address()}}},
                                 "routes:\n"
                                 "  - { host: api.example.com, path_prefix: /v1, pool: api }\n"
                                 "  - { host: api.example.com, path_prefix: /v1/new, pool: v2 }\n")};
  TestClient client{keel.address()};
  EXPECT_EQ(client.get("/v1/x", {{"Host", "API.example.com:8080"}}).body(), "ok from api");
  EXPECT_EQ(client.get("/v1/new/x", {{"Host", "api.example.com"}}).body(), "ok from v2");
  EXPECT_EQ(client.get("/v1/x", {{"Host", "other.example.com"}}).body(), "ok from web");
  EXPECT_EQ(client.get("/", {{"Host", "api.example.com"}}).body(), "ok from web");
}

}  // namespace
}  // namespace keel::test
