// Bodies stream both ways: large uploads and downloads intact, chunked in and out,
// and a slowly streamed response reaches the client before the backend finishes.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

constexpr std::uint64_t k8MiB = 8 * 1024 * 1024;

TEST(Streaming, Uploads8MiBWithContentLengthIntact) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.request("POST", "/upload", {}, pattern_bytes(0, k8MiB), std::chrono::seconds(20));
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("Content-Length"), std::to_string(k8MiB));
  ASSERT_EQ(seen->body.size(), k8MiB);
  EXPECT_TRUE(is_pattern(seen->body));
}

TEST(Streaming, Uploads8MiBChunkedIntact) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  // Many chunks of odd sizes, sent as raw bytes.
  std::string request = "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body = pattern_bytes(0, k8MiB);
  std::size_t offset = 0;
  std::size_t size = 1;
  while (offset < body.size()) {
    const std::size_t n = std::min(size, body.size() - offset);
    char line[32];
    std::snprintf(line, sizeof line, "%zx;ext=1\r\n", n);
    request += line;
    request.append(body, offset, n);
    request += "\r\n";
    offset += n;
    size = size * 3 + 7;
    if (size > 300'000) size = 13;
  }
  request += "0\r\nX-Trailer: t\r\n\r\n";
  ASSERT_FALSE(client.send_raw(request, std::chrono::seconds(20)));
  auto response = client.read_response(std::chrono::seconds(20));
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(seen->has("Content-Length"));
  ASSERT_EQ(seen->body.size(), k8MiB);
  EXPECT_TRUE(is_pattern(seen->body));
}

TEST(Streaming, Downloads8MiBIntact) {
  TestBackend backend;
  backend.set_reply(Reply::pattern(k8MiB));
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/big", {}, std::chrono::seconds(20));
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  EXPECT_EQ(response["Content-Length"], std::to_string(k8MiB));
  ASSERT_EQ(response.body().size(), k8MiB);
  EXPECT_TRUE(is_pattern(response.body()));
  EXPECT_EQ(client.get("/again").result(), http::status::ok);  // still in sync
}

TEST(Streaming, Downloads8MiBChunkedIntact) {
  TestBackend backend;
  Reply reply = Reply::pattern(k8MiB);
  reply.chunked = true;
  reply.chunks = 97;
  backend.set_reply(reply);
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/big", {}, std::chrono::seconds(20));
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  EXPECT_EQ(response["Transfer-Encoding"], "chunked");
  ASSERT_EQ(response.body().size(), k8MiB);
  EXPECT_TRUE(is_pattern(response.body()));
}

TEST(Streaming, SlowChunkedResponseReachesClientBeforeBackendFinishes) {
  TestBackend backend;
  Reply reply = Reply::streamed("first-second-last", 3, std::chrono::milliseconds(0));
  reply.hold_last_chunk = true;  // the backend will not finish until the test says so
  backend.set_reply(reply);
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.write_request(request_with_host(http::verb::get, "/stream")));
  auto head = client.read_head();
  ASSERT_EQ(head.result(), http::status::ok) << head.ec.message();
  std::string received;
  while (received.size() < std::string("first-second-last").size() - 5) {
    auto piece = client.read_body_piece();
    ASSERT_FALSE(piece.ec) << piece.ec.message() << " after '" << received << "'";
    ASSERT_FALSE(piece.done);
    received += piece.data;
  }
  EXPECT_EQ(received, "first-second");  // arrived while the last chunk is still held
  backend.release();
  auto rest = client.read_body_rest();
  ASSERT_FALSE(rest.ec) << rest.ec.message();
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(received + rest.data, "first-second-last");
}

TEST(Streaming, RequestReachesBackendBeforeUploadCompletes) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("POST /slow-upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello"));
  auto head = backend.next_request_head();  // while 5 bytes are still missing
  ASSERT_TRUE(head);
  EXPECT_EQ(head->target, "/slow-upload");
  ASSERT_FALSE(client.send_raw("world"));
  auto response = client.read_response();
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->body, "helloworld");
}

TEST(Streaming, ExpectContinueIsRelayed) {
  TestBackend backend;  // answers "Expect: 100-continue" with an interim 100 before reading the body
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  // keel forwards Expect to the backend...
  const auto head = backend.next_request_head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Expect"), "100-continue");
  // ...and relays the backend's 100 to the client, which sends its body only then:
  // without the 100 this read times out, as a real client would wait.
  const auto interim = client.read_raw_until("\r\n\r\n");
  ASSERT_FALSE(interim.ec) << interim.ec.message() << ": '" << interim.data << "'";
  EXPECT_EQ(interim.data.substr(0, 13), "HTTP/1.1 100 ") << interim.data;
  ASSERT_FALSE(client.send_raw("data"));
  const auto response = client.read_response();
  ASSERT_EQ(response.result(), http::status::ok) << response.ec.message();
  const auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->body, "data");
}

}  // namespace
}  // namespace keel::test
