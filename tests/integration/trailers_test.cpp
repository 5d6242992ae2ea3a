// Chunked trailers through keel over HTTP/1.1: a backend's response trailer
// reaches a chunked client, a client's request trailer reaches the backend,
// and framing or hop-by-hop fields in a trailer stay behind (docs/exchange.md).
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

using namespace std::chrono_literals;

TEST(Trailers, ResponseTrailerReachesAChunkedClient) {
  TestBackend backend;
  Reply reply = Reply::streamed("hello trailers", 3, 0ms);
  reply.trailers = {{"Grpc-Status", "0"}, {"X-Checksum", "sha256=abc"}, {"Keep-Alive", "timeout=1"}};
  backend.set_reply(reply);
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET /t HTTP/1.1\r\nHost: keel.test\r\nConnection: close\r\n\r\n"));
  const RawRead read = client.read_raw_until_close_or(5s);
  ASSERT_TRUE(read.closed) << read.data;
  const auto body_start = read.data.find("\r\n\r\n");
  ASSERT_NE(body_start, std::string::npos) << read.data;
  EXPECT_NE(read.data.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << read.data;
  const std::string body = read.data.substr(body_start + 4);
  const std::string last = "0\r\nGrpc-Status: 0\r\nX-Checksum: sha256=abc\r\n\r\n";
  ASSERT_GE(body.size(), last.size());
  EXPECT_EQ(body.substr(body.size() - last.size()), last) << body;  // Keep-Alive is hop-by-hop
}

TEST(Trailers, ResponseTrailerIsVisibleToAnHttpClientAndTheConnectionStays) {
  TestBackend backend;
  Reply reply = Reply::streamed("abc", 2, 0ms);
  reply.trailers = {{"X-Sum", "6"}};
  backend.set_reply(reply);
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  for (int i = 0; i < 3; ++i) {  // Beast puts trailer fields with the head's
    const auto response = client.get("/");
    ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
    EXPECT_EQ(response.body(), "abc");
    EXPECT_EQ(response["X-Sum"], "6") << i;
  }
  EXPECT_EQ(backend.connection_count(), 1u);
}

TEST(Trailers, AnHttp10ClientGetsTheBodyWithoutTheTrailer) {
  TestBackend backend;
  Reply reply = Reply::streamed("plain", 2, 0ms);
  reply.trailers = {{"X-Sum", "5"}};
  backend.set_reply(reply);
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET / HTTP/1.0\r\nHost: keel.test\r\n\r\n"));
  const RawRead read = client.read_raw_until_close_or(5s);
  ASSERT_TRUE(read.closed);
  EXPECT_EQ(read.data.substr(read.data.size() - 9), "\r\n\r\nplain") << read.data;
}

TEST(Trailers, RequestTrailerReachesTheBackend) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw(
      "POST /upload HTTP/1.1\r\nHost: keel.test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\nX-Upload-Sum: 5\r\nContent-Length: 5\r\nHost: evil.test\r\n\r\n"));
  // Beast refuses Content-Length in a trailer of a chunked body, so keel does
  // too; a clean one goes through.
  const RawRead refused = client.read_raw_until("\r\n\r\n", 5s);
  EXPECT_NE(refused.data.find(" 400 "), std::string::npos) << refused.data;

  TestClient second{keel.address()};
  ASSERT_FALSE(second.send_raw(
      "POST /upload HTTP/1.1\r\nHost: keel.test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\nX-Upload-Sum: 5\r\nHost: evil.test\r\nTE: trailers\r\n\r\n"));
  const auto response = second.read_response(5s);
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  const auto seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->body, "hello");
  const Headers expected = {{"X-Upload-Sum", "5"}};
  EXPECT_EQ(seen->trailers, expected);
}

TEST(Trailers, RequestTrailerAfterAStreamedBodyReachesTheBackend) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  // The head and first chunk go first; the rest (and the trailer) through the upload pump.
  ASSERT_FALSE(client.send_raw("PUT /u HTTP/1.1\r\nHost: keel.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
  ASSERT_TRUE(backend.next_request_head(2s));
  ASSERT_FALSE(client.send_raw("3\r\ndef\r\n0\r\nX-Done: yes\r\n\r\n"));
  const auto response = client.read_response(5s);
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  const auto seen = backend.next_request(2s);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->body, "abcdef");
  const Headers expected = {{"X-Done", "yes"}};
  EXPECT_EQ(seen->trailers, expected);
}

}  // namespace
}  // namespace keel::test
