#include <gtest/gtest.h>

#include "proxy/http2/first_bytes.hpp"

#include <string>

namespace keel::http2 {
namespace {

TEST(Http2FirstBytes, PrefaceSelectsHttp2AtEverySplit) {
  const std::string preface(kConnectionPreface);
  EXPECT_EQ(classify_plain(""), FirstBytes::need_more);
  for (std::size_t n = 1; n < preface.size(); ++n)
    EXPECT_EQ(classify_plain(preface.substr(0, n)), FirstBytes::need_more) << n;
  EXPECT_EQ(classify_plain(preface), FirstBytes::http2);
  EXPECT_EQ(classify_plain(preface + std::string("\x00\x00\x00\x04", 4)), FirstBytes::http2);
}

TEST(Http2FirstBytes, AnythingElseIsHttp1AsSoonAsItDiffers) {
  EXPECT_EQ(classify_plain("GET / HTTP/1.1\r\n"), FirstBytes::http1);
  EXPECT_EQ(classify_plain("G"), FirstBytes::http1);
  EXPECT_EQ(classify_plain("PROPFIND / HTTP/1.1\r\n"), FirstBytes::http1);  // differs at byte 3
  EXPECT_EQ(classify_plain("PRI * HTTP/1.1\r\n"), FirstBytes::http1);
  EXPECT_EQ(classify_plain("PRI * HTTP/2.0\r\n\r\nXX"), FirstBytes::http1);
  EXPECT_EQ(classify_plain("\x16\x03\x01"), FirstBytes::http1);  // TLS to a plain port: HTTP/1.1 answers 400
}

TEST(Http2FirstBytes, TlsListenerTellsAHandshakeFromPlainHttp) {
  EXPECT_EQ(classify_tls(""), FirstBytes::need_more);
  EXPECT_EQ(classify_tls(std::string("\x16\x03\x01\x02\x00", 5)), FirstBytes::tls);
  EXPECT_EQ(classify_tls("GET / HTTP/1.1\r\n"), FirstBytes::plain_http);
  EXPECT_EQ(classify_tls("POST"), FirstBytes::plain_http);
  EXPECT_EQ(classify_tls("PRI * HTTP/2.0"), FirstBytes::plain_http);
  EXPECT_EQ(classify_tls("\x80\x01"), FirstBytes::tls);  // SSLv2-style hello: the handshake refuses it
  EXPECT_EQ(classify_tls("get / HTTP/1.1"), FirstBytes::tls);
}

}  // namespace
}  // namespace keel::http2
