#include <gtest/gtest.h>

#include "proxy/http/head_parser.hpp"
#include "proxy/http/request_guard.hpp"
#include "proxy/http2/request_head.hpp"

#include <string>
#include <vector>

namespace keel::http2 {
namespace {

using Headers = std::vector<Header>;

const Headers kGet = {{":method", "GET"}, {":scheme", "https"}, {":authority", "shop.test"}, {":path", "/a?b=1"}};

Headers with(Headers base, std::initializer_list<Header> more) {
  base.insert(base.end(), more);
  return base;
}

struct Converted {
  RequestHeadError error;
  std::string head;
};

Converted convert(const Headers& headers, bool has_body = false, std::size_t max_bytes = 16384) {
  Converted result;
  result.head = "kept|";
  result.error = write_request_head(result.head, headers, has_body, max_bytes);
  if (result.error == RequestHeadError::none) result.head.erase(0, 5);
  return result;
}

TEST(Http2RequestHead, PseudoHeadersBecomeTheRequestLineAndHost) {
  const auto converted = convert(with(kGet, {{"accept", "*/*"}, {"user-agent", "curl/7.88"}}));
  ASSERT_EQ(converted.error, RequestHeadError::none);
  EXPECT_EQ(converted.head,
            "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\naccept: */*\r\nuser-agent: curl/7.88\r\n\r\n");
}

TEST(Http2RequestHead, CookiePiecesAreJoinedIntoOneHeader) {
  const auto converted = convert(with(kGet, {{"cookie", "a=1"}, {"accept", "x"}, {"cookie", "b=2"}, {"cookie", "c=3"}}));
  ASSERT_EQ(converted.error, RequestHeadError::none);
  EXPECT_EQ(converted.head, "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\naccept: x\r\nCookie: a=1; b=2; c=3\r\n\r\n");
}

TEST(Http2RequestHead, BodyFraming) {
  // A body of unannounced length is framed as chunks for the HTTP/1.1 side.
  EXPECT_EQ(convert(kGet, true).head, "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(convert(with(kGet, {{"content-length", "5"}}), true).head,
            "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\ncontent-length: 5\r\n\r\n");
  EXPECT_EQ(convert(kGet, false).head, "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\n\r\n");
}

TEST(Http2RequestHead, HostIsUsedWithoutAuthorityAndMustMatchIt) {
  const Headers no_authority = {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.test"}};
  EXPECT_EQ(convert(no_authority).head, "GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
  EXPECT_EQ(convert(with(kGet, {{"host", "shop.test"}})).head, "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  EXPECT_EQ(convert(with(kGet, {{"host", "evil.test"}})).error, RequestHeadError::conflicting_host);
  EXPECT_EQ(convert({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}}).error,
            RequestHeadError::missing_authority);
}

TEST(Http2RequestHead, TeTrailersIsDroppedAnythingElseRefused) {
  EXPECT_EQ(convert(with(kGet, {{"te", "trailers"}})).head, "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  EXPECT_EQ(convert(with(kGet, {{"te", "gzip"}})).error, RequestHeadError::bad_te);
  EXPECT_EQ(convert(with(kGet, {{"te", "trailers, gzip"}})).error, RequestHeadError::bad_te);
}

TEST(Http2RequestHead, RefusesMalformedBlocks) {
  const struct {
    Headers headers;
    RequestHeadError error;
  } cases[] = {
      {with(kGet, {{"connection", "close"}}), RequestHeadError::connection_specific},
      {with(kGet, {{"keep-alive", "5"}}), RequestHeadError::connection_specific},
      {with(kGet, {{"proxy-connection", "x"}}), RequestHeadError::connection_specific},
      {with(kGet, {{"transfer-encoding", "chunked"}}), RequestHeadError::connection_specific},
      {with(kGet, {{"upgrade", "websocket"}}), RequestHeadError::connection_specific},
      {with(kGet, {{"Accept", "x"}}), RequestHeadError::bad_name},
      {with(kGet, {{"a b", "x"}}), RequestHeadError::bad_name},
      {with(kGet, {{"", "x"}}), RequestHeadError::bad_name},
      {with(kGet, {{"x", "a\r\nInjected: 1"}}), RequestHeadError::bad_value},
      {with(kGet, {{"x", std::string_view("a\0b", 3)}}), RequestHeadError::bad_value},
      {with(kGet, {{"x", "a\nb"}}), RequestHeadError::bad_value},
      {with(kGet, {{":path", "/again"}}), RequestHeadError::bad_pseudo_header},  // repeated
      {with(kGet, {{"accept", "x"}, {":method", "GET"}}), RequestHeadError::bad_pseudo_header},
      {with(kGet, {{":status", "200"}}), RequestHeadError::bad_pseudo_header},
      {with(kGet, {{"host", "a"}, {"host", "a"}}), RequestHeadError::bad_value},
      {{{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}}, RequestHeadError::missing_pseudo_header},
      {{{":method", "GET"}, {":path", "/"}, {":authority", "a"}}, RequestHeadError::missing_pseudo_header},
      {{{":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, RequestHeadError::missing_pseudo_header},
      {{{":method", "GET"}, {":scheme", "http"}, {":path", "x"}, {":authority", "a"}}, RequestHeadError::bad_path},
      {{{":method", "GET"}, {":scheme", "http"}, {":path", "/a b"}, {":authority", "a"}}, RequestHeadError::bad_path},
      {{{":method", "GET"}, {":scheme", "http"}, {":path", "*"}, {":authority", "a"}}, RequestHeadError::bad_path},
      {{{":method", "G T"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}},
       RequestHeadError::bad_pseudo_header},
      {{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", ""}},
       RequestHeadError::bad_pseudo_header},
      {{{":method", "CONNECT"}, {":authority", "a:443"}}, RequestHeadError::unsupported_method},
      {{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"}, {":path", "/"}, {":authority", "a"}},
       RequestHeadError::unsupported_method},
      {with(kGet, {}), RequestHeadError::none},
  };
  for (const auto& c : cases) {
    const auto converted = convert(c.headers);
    EXPECT_EQ(converted.error, c.error) << describe(c.error);
    if (c.error != RequestHeadError::none) {
      EXPECT_EQ(converted.head, "kept|");  // untouched on error
    }
  }
}

TEST(Http2RequestHead, OptionsStarIsAllowed) {
  EXPECT_EQ(convert({{":method", "OPTIONS"}, {":scheme", "http"}, {":path", "*"}, {":authority", "a"}}).head,
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
}

TEST(Http2RequestHead, SizeLimitCountsTheWholeHeadCookiesIncluded) {
  const std::string exact = "GET /a?b=1 HTTP/1.1\r\nHost: shop.test\r\nCookie: a=1; b=2\r\n\r\n";
  const Headers cookies = with(kGet, {{"cookie", "a=1"}, {"cookie", "b=2"}});
  EXPECT_EQ(convert(cookies, false, exact.size()).head, exact);
  EXPECT_EQ(convert(cookies, false, exact.size() - 1).error, RequestHeadError::too_large);
  // Many small cookie pieces cost their separators too.
  Headers many = kGet;
  for (int i = 0; i < 1000; ++i) many.push_back({"cookie", "k=v"});
  EXPECT_EQ(convert(many, false, 4096).error, RequestHeadError::too_large);
  EXPECT_EQ(convert(many, false, 16384).error, RequestHeadError::none);
}

// What the conversion writes is what keel's HTTP/1.1 front door accepts.
TEST(Http2RequestHead, OutputPassesTheHttp11GuardAndParser) {
  const auto converted = convert(with(kGet, {{"cookie", "a=1"}, {"cookie", "b=2"}, {"content-length", "3"}}), true);
  ASSERT_EQ(converted.error, RequestHeadError::none);
  EXPECT_EQ(http::scan_raw_head(converted.head), http::GuardResult::ok);
  std::vector<http::Field> fields;
  http::RequestParser parser(fields);
  parser.header_limit(16384);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(converted.head), ec);
  ASSERT_TRUE(parser.is_header_done()) << ec.message();
  std::string_view host;
  EXPECT_EQ(http::check_request_head(parser, host), http::GuardResult::ok);
  EXPECT_EQ(host, "shop.test");
  EXPECT_EQ(parser.target(), "/a?b=1");
  EXPECT_EQ(parser.content_length().value_or(0), 3u);
}

}  // namespace
}  // namespace keel::http2
