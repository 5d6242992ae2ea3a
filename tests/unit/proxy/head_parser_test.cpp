#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/head_parser.hpp"
#include "tests/unit/proxy/http_test_support.hpp"

namespace keel::http {
namespace {

using namespace std::string_view_literals;
using error = beast_http::error;
using beast_http::field;
using namespace test_support;  // the parse helpers and canned messages both files share

TEST(HeadParser, CapturesRequestLineAndFields) {
  ParsedRequest request(
      "POST /upload?x=1&y=%20 HTTP/1.1\r\n"
      "Host: shop.test:8080\r\n"
      "X-Custom:   spaced  value \t\r\n"
      "x-lower: v\r\n"
      "Empty:\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello");
  ASSERT_FALSE(request.ec) << request.ec.message();
  ASSERT_TRUE(request.parser.is_header_done());
  EXPECT_FALSE(request.parser.is_done());
  EXPECT_EQ(request.parser.method(), beast_http::verb::post);
  EXPECT_EQ(request.parser.method_text(), "POST");
  EXPECT_EQ(request.parser.target(), "/upload?x=1&y=%20");
  EXPECT_EQ(request.parser.version(), 11);
  EXPECT_EQ(request.used, request.bytes.size() - 5);
  const std::vector<FieldCopy> expected = {
      {field::host, "Host", "shop.test:8080"},
      {field::unknown, "X-Custom", "spaced  value"},
      {field::unknown, "x-lower", "v"},
      {field::unknown, "Empty", ""},
      {field::content_length, "Content-Length", "5"},
  };
  EXPECT_EQ(test_support::copy_fields(request.parser.fields()), expected);
}

TEST(HeadParser, FieldViewsPointIntoTheReadBuffer) {
  ParsedRequest request("GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Y: z\r\n\r\n");
  ASSERT_FALSE(request.ec);
  const char* first = request.bytes.data();
  const char* last = first + request.bytes.size();
  const std::less_equal<const char*> le;
  auto inside = [&](std::string_view view) {
    return le(first, view.data()) && le(view.data() + view.size(), last);
  };
  EXPECT_TRUE(inside(request.parser.method_text()));
  EXPECT_TRUE(inside(request.parser.target()));
  ASSERT_EQ(request.parser.fields().size(), 3u);
  for (const Field& f : request.parser.fields()) {
    EXPECT_TRUE(inside(f.name)) << f.name;
    EXPECT_TRUE(inside(f.value)) << f.name;
  }
}

TEST(HeadParser, ReusedFieldVectorStartsEmpty) {
  std::vector<Field> fields = {{field::host, "stale", "stale"}};
  RequestParser parser(fields);
  EXPECT_TRUE(parser.fields().empty());
}

TEST(HeadParser, CapturesMethodVersionAndUnknownMethods) {
  struct Case {
    std::string message;
    beast_http::verb method;
    std::string_view method_text;
    std::string_view target;
    int version;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", beast_http::verb::get, "GET", "/", 11},
      {"GET /old HTTP/1.0\r\n\r\n", beast_http::verb::get, "GET", "/old", 10},
      {"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", beast_http::verb::unknown, "BREW", "/pot", 11},
      {"PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n", beast_http::verb::purge, "PURGE", "/cache", 11},
      {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", beast_http::verb::options, "OPTIONS", "*", 11},
      {"GET http://h.test/x?q HTTP/1.1\r\nHost: h.test\r\n\r\n", beast_http::verb::get, "GET",
       "http://h.test/x?q", 11},
      {"DELETE /r/1 HTTP/1.1\r\nHost: a\r\n\r\n", beast_http::verb::delete_, "DELETE", "/r/1", 11},
  };
  for (const Case& c : cases) {
    ParsedRequest request(c.message);
    ASSERT_FALSE(request.ec) << c.message << ": " << request.ec.message();
    EXPECT_EQ(request.parser.method(), c.method) << c.message;
    EXPECT_EQ(request.parser.method_text(), c.method_text) << c.message;
    EXPECT_EQ(request.parser.target(), c.target) << c.message;
    EXPECT_EQ(request.parser.version(), c.version) << c.message;
    EXPECT_TRUE(request.parser.is_done()) << c.message;  // no body
  }
}

TEST(HeadParser, CapturesStatusLine) {
  struct Case {
    std::string message;
    int status;
    std::string_view reason;
    int version;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "OK", 11},
      {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, "Not Found", 11},
      {"HTTP/1.0 503 Busy, try later\r\nContent-Length: 0\r\n\r\n", 503, "Busy, try later", 10},
      {"HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n", 299, "", 11},
  };
  for (const Case& c : cases) {
    ParsedResponse response(c.message);
    ASSERT_FALSE(response.ec) << c.message << ": " << response.ec.message();
    EXPECT_EQ(response.parser.status(), c.status);
    EXPECT_EQ(response.parser.reason(), c.reason);
    EXPECT_EQ(response.parser.version(), c.version);
    EXPECT_TRUE(response.parser.is_done());
  }
}

TEST(HeadParser, StatusOutsideOneHundredToFiveNinetyNineIsBad) {
  for (const std::string_view code : {"000", "099", "600", "999"}) {
    const std::string message = "HTTP/1.1 " + std::string(code) + " X\r\nContent-Length: 2\r\n\r\nhi";
    const auto outcome = parse_response(message, Framing::length);
    EXPECT_EQ(outcome.ec, error::bad_status) << code;
    EXPECT_FALSE(outcome.header_done) << code;
    EXPECT_EQ(outcome.output, "") << code;
    // Also when the status line arrives a byte at a time.
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < 14; ++i) cuts.push_back(i);
    EXPECT_EQ(parse_response(message, Framing::length, cuts).ec, error::bad_status) << code;
  }
  for (const std::string_view code : {"100", "101", "199", "599"}) {
    const std::string message = "HTTP/1.1 " + std::string(code) + " X\r\nContent-Length: 0\r\n\r\n";
    ParsedResponse response(message);
    EXPECT_FALSE(response.ec) << code << ": " << response.ec.message();
    EXPECT_EQ(std::to_string(response.parser.status()), code);
  }
}

TEST(HeadParser, ContentLengthBodyIsRelayedRaw) {
  const auto outcome = parse_request(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello\r\n0\r\n", Framing::length);
  EXPECT_FALSE(outcome.ec) << outcome.ec.message();
  EXPECT_TRUE(outcome.done);
  EXPECT_EQ(outcome.output, "hello\r\n0\r\n");  // body bytes that look like chunks stay bytes
  EXPECT_EQ(outcome.body_bytes, 10u);
  EXPECT_EQ(outcome.chunk_headers, 0u);
}

TEST(HeadParser, ContentLengthBodyStopsAtItsLength) {
  const std::string message = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /next";
  std::vector<Field> fields;
  RequestParser parser(fields);
  test_support::set_limits(parser, {});
  boost::beast::error_code ec;
  std::size_t used = parser.put(test_support::as_buffer(message), ec);
  ASSERT_TRUE(parser.is_header_done());
  std::string out;
  parser.set_body_output(&out, Framing::length);
  used += parser.put(test_support::as_buffer(std::string_view(message).substr(used)), ec);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(message.substr(used), "GET /next");  // a pipelined request is left alone
}

TEST(HeadParser, ContentLengthBodyCanGoOutChunked) {
  const auto outcome =
      parse_request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", Framing::chunked);
  EXPECT_FALSE(outcome.ec);
  EXPECT_TRUE(outcome.done);
  EXPECT_EQ(outcome.output, "5\r\nhello\r\n0\r\n\r\n");
}

TEST(HeadParser, ChunkedBodyIsReframedWithoutExtensionsButWithItsTrailer) {
  const auto outcome = parse_request(kChunkedRequest, Framing::chunked);
  EXPECT_FALSE(outcome.ec) << outcome.ec.message();
  EXPECT_TRUE(outcome.done);
  EXPECT_EQ(outcome.output, kReframedChunks);
  EXPECT_EQ(outcome.body_bytes, kChunkedBody.size());
  EXPECT_EQ(outcome.chunk_headers, 4u);  // the last chunk counts too
}

// Trailer fields go through to a chunked next hop, in the last chunk; framing,
// routing and hop-by-hop ones do not (RFC 9110 §6.5.1), nor do they reach a
// next hop without chunks.
TEST(HeadParser, ChunkedTrailerIsForwardedWithoutForbiddenFields) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n"
      "Grpc-Status: 0\r\nX-Checksum: sha256=x\r\nConnection: close\r\nHost: elsewhere\r\n"
      "Keep-Alive: 5\r\nTrailer: X\r\nTE: trailers\r\n\r\n";
  const auto chunked = parse_response(response, Framing::chunked);
  ASSERT_FALSE(chunked.ec) << chunked.ec.message();
  EXPECT_TRUE(chunked.done);
  EXPECT_EQ(chunked.output, "3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nX-Checksum: sha256=x\r\n\r\n");
  const auto raw = parse_response(response, Framing::until_close);
  EXPECT_TRUE(raw.done);
  EXPECT_EQ(raw.output, "abc");
}

TEST(HeadParser, EmptyBodyWithTrailerKeepsOneLastChunk) {
  const auto outcome = parse_request(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 1\r\n\r\n",
      Framing::chunked);
  ASSERT_FALSE(outcome.ec) << outcome.ec.message();
  EXPECT_EQ(outcome.output, "0\r\nX-Sum: 1\r\n\r\n");
}

TEST(HeadParser, TrailerFieldsAreCollectedForAnUnchunkedHop) {
  const std::string bytes =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nA: 1\r\nKeep-Alive: x\r\nB: 2\r\n\r\n";
  std::vector<Field> fields;
  std::vector<Field> trailers;
  std::string output;
  ResponseParser parser(fields);
  test_support::set_limits(parser, {});
  boost::beast::error_code ec;
  const std::size_t used = parser.put(test_support::as_buffer(bytes), ec);
  ASSERT_TRUE(parser.is_header_done());
  parser.set_body_output(&output, Framing::until_close);
  parser.set_trailer_output(&trailers);
  parser.eager(true);
  parser.put(test_support::as_buffer(std::string_view(bytes).substr(used)), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_EQ(output, "z");
  const std::vector<FieldCopy> expected = {{field::unknown, "A", "1"}, {field::unknown, "B", "2"}};
  EXPECT_EQ(test_support::copy_fields(trailers), expected);
}

TEST(HeadParser, ChunkedBodyToALengthlessHopIsRaw) {
  for (const Framing framing : {Framing::until_close, Framing::length}) {
    const auto outcome = parse_request(kChunkedRequest, framing);
    EXPECT_FALSE(outcome.ec);
    EXPECT_TRUE(outcome.done);
    EXPECT_EQ(outcome.output, kChunkedBody);
  }
}

TEST(HeadParser, LargeChunkSizesAreReframedInHex) {
  const std::string data(0x1234, 'x');
  const std::string message = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "00001234\r\n" + data + "\r\n0\r\n\r\n";
  const auto outcome = parse_request(message, Framing::chunked);
  EXPECT_FALSE(outcome.ec);
  EXPECT_EQ(outcome.output, "1234\r\n" + data + "\r\n0\r\n\r\n");
}

TEST(HeadParser, ChunkedBodyWithOnlyTheLastChunkIsEmpty) {
  const auto outcome = parse_request(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Framing::chunked);
  EXPECT_FALSE(outcome.ec);
  EXPECT_TRUE(outcome.done);
  EXPECT_EQ(outcome.output, "0\r\n\r\n");
  EXPECT_EQ(outcome.body_bytes, 0u);
}

TEST(HeadParser, TrailerFieldsAreNotHeadFields) {
  const auto outcome = parse_request(kChunkedRequest, Framing::chunked);
  ASSERT_TRUE(outcome.done);
  std::vector<Field> fields;
  RequestParser parser(fields);
  test_support::set_limits(parser, {});
  boost::beast::error_code ec;
  std::size_t used = parser.put(test_support::as_buffer(kChunkedRequest), ec);
  while (!ec && !parser.is_done())
    used += parser.put(test_support::as_buffer(kChunkedRequest.substr(used)), ec);
  ASSERT_TRUE(parser.is_done()) << ec.message();
  ASSERT_EQ(parser.fields().size(), 2u);  // Host and Transfer-Encoding; no "Expires"
  EXPECT_EQ(parser.fields()[1].name, "Transfer-Encoding");
}

TEST(HeadParser, BodylessMessagesEmitNothing) {
  const std::vector<std::string_view> requests = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
  };
  for (const auto message : requests) {
    const auto outcome = parse_request(message, Framing::length);
    EXPECT_FALSE(outcome.ec) << message;
    EXPECT_TRUE(outcome.done) << message;
    EXPECT_EQ(outcome.head_bytes, message.size());
    EXPECT_EQ(outcome.output, "");
  }
}

TEST(HeadParser, ResponsesWithoutABodyByStatusOrHead) {
  struct Case {
    std::string_view message;
    bool skip_body;  // the response to a HEAD request
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false},
      {"HTTP/1.1 100 Continue\r\n\r\n", false},
      {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true},
  };
  for (const Case& c : cases) {
    const auto outcome = parse_response(c.message, Framing::length, {}, false, {}, c.skip_body);
    EXPECT_FALSE(outcome.ec) << c.message;
    EXPECT_TRUE(outcome.done) << c.message;
    EXPECT_EQ(outcome.head_bytes, c.message.size()) << c.message;
    EXPECT_EQ(outcome.output, "") << c.message;
  }
}

TEST(HeadParser, ResponseUntilCloseEndsAtEof) {
  for (const std::string_view version : {"HTTP/1.1", "HTTP/1.0"}) {
    const std::string message = std::string(version) + " 200 OK\r\nContent-Type: text/plain\r\n\r\nabcdef";
    const auto open = parse_response(message, Framing::until_close);
    EXPECT_FALSE(open.ec);
    EXPECT_FALSE(open.done);  // more may come until the backend closes
    EXPECT_EQ(open.output, "abcdef");

    const auto closed = parse_response(message, Framing::until_close, {}, /*eof=*/true);
    EXPECT_FALSE(closed.ec) << closed.ec.message();
    EXPECT_TRUE(closed.done);
    EXPECT_EQ(closed.output, "abcdef");

    // Towards an HTTP/1.1 client the same body goes out chunked, ended at EOF.
    const auto chunked = parse_response(message, Framing::chunked, {}, /*eof=*/true);
    EXPECT_FALSE(chunked.ec);
    EXPECT_TRUE(chunked.done);
    EXPECT_EQ(chunked.output, "6\r\nabcdef\r\n0\r\n\r\n");
  }
}

TEST(HeadParser, EofBeforeTheEndOfAFramedBodyIsPartial) {
  const auto length = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                                     Framing::length, {}, /*eof=*/true);
  EXPECT_EQ(length.ec, error::partial_message);
  EXPECT_FALSE(length.done);
  const auto chunked = parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
                                      Framing::chunked, {}, /*eof=*/true);
  EXPECT_EQ(chunked.ec, error::partial_message);
  EXPECT_EQ(chunked.output, "3\r\nabc\r\n");  // never the last chunk of a cut-off body
}

// Beast unfolds an obs-fold value into scratch memory of its own that is gone
// once put() returns; a view of it must never be kept.
TEST(HeadParser, ObsFoldedRequestValueIsNotKept) {
  for (const std::string_view fold : {"\r\n c", "\r\n\tc", "\r\n  c\r\n d"}) {
    ParsedRequest request("GET / HTTP/1.1\r\nHost: a\r\nX-A: b" + std::string(fold) + "\r\nX-B: e\r\n\r\n");
    ASSERT_FALSE(request.ec) << request.ec.message();  // scan_raw_head refuses it with its reason
    ASSERT_EQ(request.parser.fields().size(), 3u);
    EXPECT_EQ(request.parser.fields()[1].name, "X-A");
    EXPECT_EQ(request.parser.fields()[1].value, "");
    EXPECT_EQ(request.parser.fields()[2].value, "e");
  }
}

TEST(HeadParser, ObsFoldedResponseIsBad) {
  // RFC 9112 §5.2: a gateway may answer 502 instead of unfolding.
  for (const std::string_view fold : {"\r\n c", "\r\n\tc"}) {
    const std::string message =
        "HTTP/1.1 200 OK\r\nX-A: b" + std::string(fold) + "\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(parse_response(message, Framing::length).ec, error::bad_value);
  }
}

TEST(HeadParser, MalformedHeadsAreRejected) {
  const std::vector<std::string_view> heads = {
      "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"sv,
      "GET / HTTP/1.1\r\nHost: a\r\n: no name\r\n\r\n"sv,
      "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n"sv,
      "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n"sv,
      "GET / HTTP/1.1\r\nHost: a\r\nX\0A: b\r\n\r\n"sv,
      "GET / HTTP/1.1\nHost: a\n\n"sv,
      "GET / HTTP/1.2\r\nHost: a\r\n\r\n"sv,
      "GET  HTTP/1.1\r\nHost: a\r\n\r\n"sv,
      "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"sv,
      "GET / HTTP/1.1\r\nConnection: close,,;\r\n\r\n"sv,
  };
  for (const std::string_view head : heads) {
    const std::string message(head);
    const auto outcome = parse_request(message, Framing::none);
    EXPECT_TRUE(outcome.ec && outcome.ec != error::need_more) << message;
    EXPECT_FALSE(outcome.header_done) << message;
  }
}

}  // namespace
}  // namespace keel::http
