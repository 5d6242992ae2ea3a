#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/forwarded_headers.hpp"
#include "tests/unit/proxy/http_test_support.hpp"

namespace keel::http {
namespace {

using test_support::head_lines;
using test_support::ParsedResponse;
using Lines = std::vector<std::string>;

Lines client_head(const std::string& message, const ResponseFraming& framing, int client_version = 11,
                  bool skip_body = false) {
  ParsedResponse response(message, {}, skip_body);
  EXPECT_FALSE(response.ec) << message << ": " << response.ec.message();
  EXPECT_TRUE(response.parser.is_header_done()) << message;
  std::string out = "kept|";  // appends, never replaces
  write_client_response_head(out, response.parser, framing, client_version);
  EXPECT_EQ(out.substr(0, 5), "kept|");
  return head_lines(std::string_view(out).substr(5));
}

constexpr std::string_view kHopByHopFields =
    "Connection: keep-alive, X-Internal\r\n"
    "Keep-Alive: timeout=5\r\n"
    "Proxy-Connection: keep-alive\r\n"
    "TE: trailers\r\n"
    "Trailer: Expires\r\n"
    "Upgrade: h2c\r\n"
    "X-Internal: secret\r\n";

TEST(ClientResponseHead, DropsHopByHopAndConnectionNamedFields) {
  const std::string message = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + std::string(kHopByHopFields) +
                              "Content-Length: 5\r\nSet-Cookie: a=b\r\n\r\n";
  EXPECT_EQ(client_head(message, {.framing = Framing::length, .content_length = 5}),
            (Lines{"HTTP/1.1 200 OK", "Content-Type: text/plain", "Set-Cookie: a=b", "Content-Length: 5"}));
}

TEST(ClientResponseHead, KeepsRepeatedFieldsInOrder) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: x\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
                        {.framing = Framing::length}),
            (Lines{"HTTP/1.1 200 OK", "Set-Cookie: a=1", "Vary: x", "Set-Cookie: b=2", "Content-Length: 0"}));
}

TEST(ClientResponseHead, ConnectionHandling) {
  struct Case {
    bool keep_alive;
    int client_version;
    Lines tail;
  };
  const std::vector<Case> cases = {
      {true, 11, {}},
      {false, 11, {"Connection: close"}},
      {true, 10, {"Connection: keep-alive"}},
      {false, 10, {"Connection: close"}},
  };
  for (const Case& c : cases) {
    Lines expected = {"HTTP/1.1 200 OK", "Content-Length: 2"};
    expected.insert(expected.end(), c.tail.begin(), c.tail.end());
    EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
                          {.framing = Framing::length, .content_length = 2, .keep_alive = c.keep_alive},
                          c.client_version),
              expected)
        << "keep_alive " << c.keep_alive << ", client HTTP/" << c.client_version;
  }
}

TEST(ClientResponseHead, StatusLineIsHttp11WithTheBackendsReason) {
  EXPECT_EQ(client_head("HTTP/1.0 404 Nicht Gefunden\r\nContent-Length: 0\r\n\r\n", {.framing = Framing::length}),
            (Lines{"HTTP/1.1 404 Nicht Gefunden", "Content-Length: 0"}));
  EXPECT_EQ(client_head("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", {.framing = Framing::length}),
            (Lines{"HTTP/1.1 404 Not Found", "Content-Length: 0"}));
}

TEST(ClientResponseHead, ChunkedFraming) {
  const std::string message = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Expires\r\nX-A: b\r\n\r\n";
  EXPECT_EQ(client_head(message, {.framing = Framing::chunked}),
            (Lines{"HTTP/1.1 200 OK", "X-A: b", "Transfer-Encoding: chunked"}));
  // A body read until the backend closes goes out chunked to an HTTP/1.1 client.
  EXPECT_EQ(client_head("HTTP/1.0 200 OK\r\nX-A: b\r\n\r\n", {.framing = Framing::chunked}),
            (Lines{"HTTP/1.1 200 OK", "X-A: b", "Transfer-Encoding: chunked"}));
}

TEST(ClientResponseHead, UntilCloseFramingHasNoLengthAndCloses) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n",
                        {.framing = Framing::until_close, .keep_alive = false}, 10),
            (Lines{"HTTP/1.1 200 OK", "X-A: b", "Connection: close"}));
}

TEST(ClientResponseHead, ContentLengthIsPassedForHeadAnd304) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n",
                        {.pass_content_length = true}, 11, /*skip_body=*/true),
            (Lines{"HTTP/1.1 200 OK", "Content-Length: 1234", "ETag: \"x\""}));
  EXPECT_EQ(client_head("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1234\r\n\r\n",
                        {.pass_content_length = true}),
            (Lines{"HTTP/1.1 304 Not Modified", "ETag: \"x\"", "Content-Length: 1234"}));
  // Without it, Content-Length comes only from the framing.
  EXPECT_EQ(client_head("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1234\r\n\r\n", {}),
            (Lines{"HTTP/1.1 304 Not Modified", "ETag: \"x\""}));
  EXPECT_EQ(client_head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", {}),
            (Lines{"HTTP/1.1 204 No Content"}));
}

TEST(ClientResponseHead, InterimResponseHasNoFramingOrConnection) {
  EXPECT_EQ(client_head("HTTP/1.1 100 Continue\r\n\r\n", {.interim = true}), (Lines{"HTTP/1.1 100 Continue"}));
  EXPECT_EQ(client_head("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: close\r\n\r\n",
                        {.keep_alive = false, .interim = true}, 10),
            (Lines{"HTTP/1.1 103 Early Hints", "Link: </s.css>; rel=preload"}));
}

TEST(ClientResponseHead, WebSocketSwitch) {
  const std::string message =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
      "\r\n";
  EXPECT_EQ(client_head(message, {.keep_alive = false, .websocket = true}),
            (Lines{"HTTP/1.1 101 Switching Protocols", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                   "Connection: upgrade", "Upgrade: websocket"}));
}

TEST(ClientResponseHead, ForwardingFieldsOfTheResponsePassUntouched) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nVia: 1.1 backend\r\nX-Forwarded-For: 1.2.3.4\r\nContent-Length: 0\r\n\r\n",
                        {.framing = Framing::length}),
            (Lines{"HTTP/1.1 200 OK", "Via: 1.1 backend", "X-Forwarded-For: 1.2.3.4", "Content-Length: 0"}));
}

}  // namespace
}  // namespace keel::http
