#include <gtest/gtest.h>

#include "proxy/http2/response_head.hpp"
#include "tests/unit/proxy/http_test_support.hpp"

#include <string>
#include <vector>

namespace keel::http2 {
namespace {

using http::test_support::ParsedHead;

// Response heads: names kept (they live in `names`), values copied at
// submission (they point into the backend's buffer). Trailers: both kept.
std::string render(const std::vector<nghttp2_nv>& nva, std::uint8_t flags = NGHTTP2_NV_FLAG_NO_COPY_NAME) {
  std::string text;
  for (const auto& nv : nva) {
    EXPECT_EQ(nv.flags, flags);
    text.append(reinterpret_cast<const char*>(nv.name), nv.namelen).append("=");
    text.append(reinterpret_cast<const char*>(nv.value), nv.valuelen).append("\n");
  }
  return text;
}

struct Rendered {
  std::vector<nghttp2_nv> nva;
  std::string names, status, length;
};

std::string convert(const std::string& response, std::optional<std::uint64_t> length, bool head = false) {
  ParsedHead<http::ResponseParser> parsed(response, {}, head);
  Rendered out;
  make_response_headers(out.nva, out.names, out.status, out.length,
                        {.status = parsed.parser.status(), .fields = &parsed.fields, .content_length = length});
  return render(out.nva);
}

TEST(Http2ResponseHead, StatusThenLowerCasedFieldsThenLength) {
  EXPECT_EQ(convert("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Id: A\r\nContent-Length: 5\r\n\r\nhello", 5),
            ":status=200\ncontent-type=text/plain\nx-id=A\ncontent-length=5\n");
}

TEST(Http2ResponseHead, HopByHopAndConnectionNamedFieldsAreDropped) {
  EXPECT_EQ(convert("HTTP/1.1 404 Not Found\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\n"
                    "X-Private: secret\r\nTransfer-Encoding: chunked\r\nTrailer: x\r\nUpgrade: h2c\r\n"
                    "Proxy-Connection: x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n0\r\n\r\n",
                    std::nullopt),
            ":status=404\nset-cookie=a=1\nset-cookie=b=2\n");
}

TEST(Http2ResponseHead, LengthComesFromTheCallerNotTheBackend) {
  // HEAD: the caller passes the backend's length through; a chunked body gets none.
  EXPECT_EQ(convert("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", 42, true), ":status=200\ncontent-length=42\n");
  EXPECT_EQ(convert("HTTP/1.1 204 No Content\r\n\r\n", std::nullopt), ":status=204\n");
}

TEST(Http2ResponseHead, StorageIsReusedWithoutMovingViews) {
  ParsedHead<http::ResponseParser> first("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", {}, true);
  ParsedHead<http::ResponseParser> second("HTTP/1.1 500 Oops\r\nLong-Header-Name: x\r\n\r\n", {}, true);
  Rendered out;
  make_response_headers(out.nva, out.names, out.status, out.length, {.status = 200, .fields = &first.fields, .content_length = std::nullopt});
  make_response_headers(out.nva, out.names, out.status, out.length, {.status = 500, .fields = &second.fields, .content_length = std::nullopt});
  EXPECT_EQ(render(out.nva), ":status=500\nlong-header-name=x\n");
}

TEST(Http2ResponseHead, TrailersAreLowerCasedAndCopiedIntoTheirStorage) {
  std::string backing = "Grpc-Status0Grpc-Messagefine";
  const std::vector<http::Field> fields{
      {http::beast_http::field::unknown, std::string_view(backing).substr(0, 11), std::string_view(backing).substr(11, 1)},
      {http::beast_http::field::unknown, std::string_view(backing).substr(12, 12), std::string_view(backing).substr(24)}};
  std::vector<nghttp2_nv> nva;
  std::string storage;
  make_trailer_headers(nva, storage, fields);
  backing.assign(backing.size(), 'x');  // the backend's buffer is reused: the frame must not see it
  EXPECT_EQ(render(nva, NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE),
            "grpc-status=0\ngrpc-message=fine\n");
  make_trailer_headers(nva, storage, {});
  EXPECT_TRUE(nva.empty());
}

}  // namespace
}  // namespace keel::http2
