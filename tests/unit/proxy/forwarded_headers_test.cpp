#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/request_guard.hpp"
#include "tests/unit/proxy/http_test_support.hpp"

namespace keel::http {
namespace {

using test_support::head_lines;
using test_support::ParsedRequest;
using test_support::ParsedResponse;
using Lines = std::vector<std::string>;

constexpr ForwardContext kContext{.client_ip = "192.0.2.7", .proto = "http",
                                  .mode = config::ForwardedMode::append, .default_host = {}};

struct Upstream {
  Framing framing = Framing::none;
  std::uint64_t content_length = 0;
  bool websocket = false;
  ForwardContext context = kContext;
};

// The head keel sends upstream for `message`, as the connection builds it:
// the guard's Host, then the rewrite.
Lines upstream_head(const std::string& message, const Upstream& options = {}) {
  ParsedRequest request(message);
  EXPECT_FALSE(request.ec) << message << ": " << request.ec.message();
  std::string_view host;
  EXPECT_EQ(check_request_head(request.parser, host), GuardResult::ok) << message;
  std::string out = "kept|";  // appends, never replaces
  write_upstream_request_head(out, request.parser, host, options.framing, options.content_length,
                              options.websocket, options.context);
  EXPECT_EQ(out.substr(0, 5), "kept|");
  return head_lines(std::string_view(out).substr(5));
}

Lines with_forwarded(Lines lines, std::string_view host = "h.test") {
  lines.push_back("X-Forwarded-For: 192.0.2.7");
  lines.push_back("X-Forwarded-Proto: http");
  if (!host.empty()) lines.push_back("X-Forwarded-Host: " + std::string(host));
  lines.push_back("Via: 1.1 keel");
  return lines;
}

TEST(UpstreamRequestHead, PassesEndToEndFieldsAndAddsForwarding) {
  EXPECT_EQ(upstream_head("GET /a?b=c HTTP/1.1\r\nHost: h.test\r\nAccept: */*\r\nCookie: k=v\r\n\r\n"),
            with_forwarded({"GET /a?b=c HTTP/1.1", "Host: h.test", "Accept: */*", "Cookie: k=v"}));
}

// What an HTTP/2 front end builds from its pseudo-headers gets the same rewrite.
TEST(UpstreamRequestHead, AHeadWithoutAParserIsRewrittenTheSame) {
  const std::vector<Field> fields = {{beast_http::field::host, "Host", "h.test"},
                                     {beast_http::field::unknown, "X-Forwarded-Proto", "forged"},
                                     {beast_http::field::te, "TE", "trailers"},
                                     {beast_http::field::accept, "Accept", "*/*"}};
  std::string out;
  write_upstream_request_head(out, RequestHead{.method = "GET", .target = "/a", .version = 11, .fields = fields},
                              "h.test", Framing::chunked, 0, false, kContext);
  Lines expected = with_forwarded({"GET /a HTTP/1.1", "Host: h.test", "Accept: */*", "Transfer-Encoding: chunked"});
  EXPECT_EQ(head_lines(out), expected);
}

TEST(UpstreamRequestHead, HostIsPassedUnchanged) {
  for (const std::string_view host : {"Shop.Test:8080", "[::1]:8080", "h.test"}) {
    const std::string message = "GET / HTTP/1.1\r\nhOsT: " + std::string(host) + "\r\n\r\n";
    EXPECT_EQ(upstream_head(message), with_forwarded({"GET / HTTP/1.1", "hOsT: " + std::string(host)}, host));
  }
}

TEST(UpstreamRequestHead, RequestLineGoesOutAsHttp11WithMethodAndTargetAsSent) {
  EXPECT_EQ(upstream_head("PURGE /c/%7E?x HTTP/1.0\r\nHost: h.test\r\n\r\n"),
            with_forwarded({"PURGE /c/%7E?x HTTP/1.1", "Host: h.test"}));
  EXPECT_EQ(upstream_head("GET http://h.test/x HTTP/1.1\r\nHost: h.test\r\n\r\n"),
            with_forwarded({"GET http://h.test/x HTTP/1.1", "Host: h.test"}));
}

TEST(UpstreamRequestHead, Http10WithoutHostGetsNoForwardedHost) {
  EXPECT_EQ(upstream_head("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n"),
            with_forwarded({"GET / HTTP/1.1", "Accept: */*"}, ""));
}

// The backend reads the host from an absolute-form target; keel routed by it too,
// and the HTTP/1.1 request it sends on carries it as Host.
TEST(UpstreamRequestHead, Http10AbsoluteFormWithoutHostSendsItsAuthorityAsHost) {
  EXPECT_EQ(upstream_head("GET http://h.test:8080/x HTTP/1.0\r\n\r\n"),
            with_forwarded({"GET http://h.test:8080/x HTTP/1.1", "Host: h.test:8080"}, "h.test:8080"));
  Upstream listener;
  listener.context.default_host = "127.0.0.1:8080";
  EXPECT_EQ(upstream_head("GET /x HTTP/1.0\r\n\r\n", listener),
            with_forwarded({"GET /x HTTP/1.1", "Host: 127.0.0.1:8080"}, ""));
}

TEST(UpstreamRequestHead, DropsHopByHopFields) {
  const std::string message =
      "POST /p HTTP/1.1\r\n"
      "Host: h.test\r\n"
      "Connection: keep-alive\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Trailer: Expires\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Upgrade: h2c\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n";
  EXPECT_EQ(upstream_head(message, {.framing = Framing::chunked}),
            with_forwarded({"POST /p HTTP/1.1", "Host: h.test", "Content-Type: text/plain",
                            "Transfer-Encoding: chunked"}));
}

TEST(UpstreamRequestHead, DropsFieldsNamedByConnection) {
  struct Case {
    std::string fields;
    Lines kept;
  };
  const std::vector<Case> cases = {
      {"Connection: close, X-Secret\r\nX-Secret: 1\r\nX-Other: 2\r\n", {"X-Other: 2"}},
      {"Connection: X-SECRET\r\nx-secret: 1\r\nX-Other: 2\r\n", {"X-Other: 2"}},
      {"x-secret: 1\r\nConnection: x-Secret\r\n", {}},  // named after it appears
      {"Connection: X-A\r\nConnection: X-B\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n", {"X-C: 3"}},
      {"Connection:  X-A ,\tX-B ,, \r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n", {"X-C: 3"}},
      {"Connection: X-Sec\r\nX-Secret: 1\r\n", {"X-Secret: 1"}},  // whole names only
      {"Connection: X-Secret-Long\r\nX-Secret: 1\r\n", {"X-Secret: 1"}},
      {"Connection: Accept, Cookie\r\nAccept: */*\r\nCookie: k=v\r\nUser-Agent: t\r\n", {"User-Agent: t"}},
      {"Connection: host, X-A\r\nX-A: 1\r\n", {}},  // Host stays: keel and the backend route by it
  };
  for (const Case& c : cases) {
    Lines expected = {"GET / HTTP/1.1", "Host: h.test"};
    expected.insert(expected.end(), c.kept.begin(), c.kept.end());
    EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h.test\r\n" + c.fields + "\r\n"), with_forwarded(expected))
        << c.fields;
  }
}

TEST(UpstreamRequestHead, XForwardedForAppendsToEveryExistingLineInOrder) {
  const std::string message =
      "GET / HTTP/1.1\r\nHost: h.test\r\n"
      "X-Forwarded-For: 10.0.0.1\r\n"
      "Accept: */*\r\n"
      "x-forwarded-for: 10.0.0.2, 10.0.0.3\r\n"
      "X-Forwarded-For:\r\n"
      "\r\n";
  EXPECT_EQ(upstream_head(message), (Lines{"GET / HTTP/1.1", "Host: h.test", "Accept: */*",
                                           "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7",
                                           "X-Forwarded-Proto: http", "X-Forwarded-Host: h.test",
                                           "Via: 1.1 keel"}));
}

TEST(UpstreamRequestHead, XForwardedForIsReplacedInReplaceMode) {
  Upstream options;
  options.context.mode = config::ForwardedMode::replace;
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 6.6.6.6\r\n"
                          "X-Forwarded-For: 7.7.7.7\r\n\r\n",
                          options),
            with_forwarded({"GET / HTTP/1.1", "Host: h.test"}));
}

TEST(UpstreamRequestHead, XForwardedForWithoutExistingIsTheClient) {
  for (const auto mode : {config::ForwardedMode::append, config::ForwardedMode::replace}) {
    Upstream options;
    options.context.mode = mode;
    EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", options),
              with_forwarded({"GET / HTTP/1.1", "Host: h.test"}));
  }
}

TEST(UpstreamRequestHead, ClientSentProtoAndHostAreReplaced) {
  Upstream options;
  options.context.proto = "https";
  options.context.client_ip = "2001:db8::7";
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-Proto: http\r\n"
                          "x-forwarded-host: evil.test\r\nX-Forwarded-Proto: ftp\r\n\r\n",
                          options),
            (Lines{"GET / HTTP/1.1", "Host: h.test", "X-Forwarded-For: 2001:db8::7", "X-Forwarded-Proto: https",
                   "X-Forwarded-Host: h.test", "Via: 1.1 keel"}));
}

TEST(UpstreamRequestHead, ViaAppendsToEveryExistingLine) {
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h.test\r\nVia: 1.0 fred\r\nvia: 1.1 p.example, 1.1 q\r\n"
                          "Via:\r\n\r\n"),
            (Lines{"GET / HTTP/1.1", "Host: h.test", "X-Forwarded-For: 192.0.2.7", "X-Forwarded-Proto: http",
                   "X-Forwarded-Host: h.test", "Via: 1.0 fred, 1.1 p.example, 1.1 q, 1.1 keel"}));
}

TEST(UpstreamRequestHead, ContentLengthComesFromTheFraming) {
  const Lines start = {"POST / HTTP/1.1", "Host: h.test", "Content-Type: a/b"};
  auto plus = [&](Lines more) {
    Lines lines = start;
    lines.insert(lines.end(), more.begin(), more.end());
    return with_forwarded(lines);
  };
  const std::string one = "POST / HTTP/1.1\r\nHost: h.test\r\ncontent-length: 5\r\nContent-Type: a/b\r\n\r\n";
  EXPECT_EQ(upstream_head(one, {.framing = Framing::length, .content_length = 5}), plus({"Content-Length: 5"}));
  EXPECT_EQ(upstream_head(one, {.framing = Framing::none}), plus({}));
  const std::string twice =
      "POST / HTTP/1.1\r\nHost: h.test\r\nContent-Length: 5\r\nContent-Type: a/b\r\nContent-Length: 5\r\n\r\n";
  EXPECT_EQ(upstream_head(twice, {.framing = Framing::length, .content_length = 5}), plus({"Content-Length: 5"}));
  const std::string listed = "POST / HTTP/1.1\r\nHost: h.test\r\nContent-Length: 5, 5\r\nContent-Type: a/b\r\n\r\n";
  EXPECT_EQ(upstream_head(listed, {.framing = Framing::length, .content_length = 5}), plus({"Content-Length: 5"}));
  const std::string zero = "POST / HTTP/1.1\r\nHost: h.test\r\nContent-Length: 0\r\nContent-Type: a/b\r\n\r\n";
  EXPECT_EQ(upstream_head(zero, {.framing = Framing::length, .content_length = 0}), plus({"Content-Length: 0"}));
  EXPECT_EQ(upstream_head(one, {.framing = Framing::length, .content_length = 18446744073709551615u}),
            plus({"Content-Length: 18446744073709551615"}));
}

constexpr std::string_view kWebSocketRequest =
    "GET /chat HTTP/1.1\r\n"
    "Host: h.test\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

TEST(UpstreamRequestHead, WebSocketUpgradeIsKept) {
  ParsedRequest request{std::string(kWebSocketRequest)};
  ASSERT_TRUE(is_websocket_upgrade(request.parser));
  EXPECT_EQ(upstream_head(std::string(kWebSocketRequest), {.websocket = true}),
            with_forwarded({"GET /chat HTTP/1.1", "Host: h.test", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                            "Sec-WebSocket-Version: 13", "Connection: upgrade", "Upgrade: websocket"}));
}

TEST(UpstreamRequestHead, OtherUpgradesAreDropped) {
  const std::string h2c =
      "GET / HTTP/1.1\r\nHost: h.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAccept: */*\r\n\r\n";
  ParsedRequest request(h2c);
  ASSERT_FALSE(is_websocket_upgrade(request.parser));
  EXPECT_EQ(upstream_head(h2c), with_forwarded({"GET / HTTP/1.1", "Host: h.test", "Accept: */*"}));
}

TEST(IsWebSocketUpgrade, TruthTable) {
  struct Case {
    std::string_view request_line;
    std::string_view fields;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1", "Connection: Upgrade\r\nUpgrade: websocket\r\n", true},
      {"GET / HTTP/1.1", "connection: upgrade\r\nupgrade: WebSocket\r\n", true},
      {"GET / HTTP/1.1", "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n", true},
      {"GET / HTTP/1.1", "Connection: keep-alive\r\nConnection: upgrade\r\nUpgrade: websocket\r\n", true},
      {"GET / HTTP/1.1", "Upgrade: h2c, websocket\r\nConnection: Upgrade\r\n", true},
      {"GET / HTTP/1.1", "Upgrade: websocket\r\n", false},
      {"GET / HTTP/1.1", "Connection: Upgrade\r\n", false},
      {"GET / HTTP/1.1", "Connection: close\r\nUpgrade: websocket\r\n", false},
      {"GET / HTTP/1.1", "Connection: Upgrade\r\nUpgrade: h2c\r\n", false},
      {"GET / HTTP/1.1", "Connection: Upgrade\r\nUpgrade: websocketx\r\n", false},
      {"GET / HTTP/1.1", "Connection: Upgraded\r\nUpgrade: websocket\r\n", false},
      {"GET / HTTP/1.1", "X-Connection: Upgrade\r\nUpgrade: websocket\r\n", false},
      {"GET / HTTP/1.1", "", false},
      {"POST / HTTP/1.1", "Connection: Upgrade\r\nUpgrade: websocket\r\n", false},
      {"HEAD / HTTP/1.1", "Connection: Upgrade\r\nUpgrade: websocket\r\n", false},
      {"GET / HTTP/1.0", "Connection: Upgrade\r\nUpgrade: websocket\r\n", false},
  };
  for (const Case& c : cases) {
    ParsedRequest request(std::string(c.request_line) + "\r\nHost: h\r\n" + std::string(c.fields) + "\r\n");
    ASSERT_FALSE(request.ec) << c.request_line << " " << c.fields;
    EXPECT_EQ(is_websocket_upgrade(request.parser), c.expected) << c.request_line << "\n" << c.fields;
  }
}

TEST(IsHopByHop, ExactlyTheListedFields) {
  using beast_http::field;
  for (const field id : {field::connection, field::keep_alive, field::proxy_connection, field::te, field::trailer,
                         field::transfer_encoding, field::upgrade})
    EXPECT_TRUE(is_hop_by_hop(id)) << beast_http::to_string(id);
  for (const field id : {field::host, field::content_length, field::via, field::unknown, field::cookie,
                         field::proxy_authorization, field::sec_websocket_key, field::expect})
    EXPECT_FALSE(is_hop_by_hop(id)) << beast_http::to_string(id);
}

TEST(IsNamedByConnection, MatchesWholeTokensCaseInsensitively) {
  ParsedRequest request("GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-A\r\nConnection:\tx-b ,\r\n\r\n");
  ASSERT_FALSE(request.ec);
  const auto& fields = request.parser.fields();
  EXPECT_TRUE(is_named_by_connection(fields, "X-A"));
  EXPECT_TRUE(is_named_by_connection(fields, "x-a"));
  EXPECT_TRUE(is_named_by_connection(fields, "X-B"));
  EXPECT_TRUE(is_named_by_connection(fields, "close"));
  EXPECT_FALSE(is_named_by_connection(fields, "X"));
  EXPECT_FALSE(is_named_by_connection(fields, "X-A, X-B"));
  EXPECT_FALSE(is_named_by_connection(fields, "Host"));
  EXPECT_FALSE(is_named_by_connection(fields, ""));
}

}  // namespace
}  // namespace keel::http
