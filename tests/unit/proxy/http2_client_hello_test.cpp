#include <gtest/gtest.h>

#include "proxy/http2/client_hello.hpp"

#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace keel::http2 {
namespace {

// A real ClientHello from OpenSSL's client, offering `alpn` (wire format).
std::string client_hello(const std::string& alpn) {
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(context);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_tlsext_host_name(ssl, "example.test");
  if (!alpn.empty())
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()), static_cast<unsigned>(alpn.size()));
  SSL_connect(ssl);  // wants to read the answer; the hello is written
  std::string hello(static_cast<std::size_t>(BIO_pending(out)), '\0');
  BIO_read(out, hello.data(), static_cast<int>(hello.size()));
  SSL_free(ssl);
  SSL_CTX_free(context);
  return hello;
}

TEST(Http2ClientHello, FindsH2InAlpn) {
  EXPECT_EQ(inspect_client_hello(client_hello(std::string("\x02h2\x08http/1.1", 12))), HelloAlpn::offers_h2);
  EXPECT_EQ(inspect_client_hello(client_hello(std::string("\x08http/1.1\x02h2", 12))), HelloAlpn::offers_h2);
  EXPECT_EQ(inspect_client_hello(client_hello(std::string("\x08http/1.1", 9))), HelloAlpn::no_h2);
  EXPECT_EQ(inspect_client_hello(client_hello(std::string("\x03h2c", 4))), HelloAlpn::no_h2);
  EXPECT_EQ(inspect_client_hello(client_hello("")), HelloAlpn::no_h2);
}

TEST(Http2ClientHello, WaitsForTheWholeFirstRecord) {
  const std::string hello = client_hello(std::string("\x02h2\x08http/1.1", 12));
  ASSERT_GT(hello.size(), 100u);
  for (std::size_t n = 0; n < hello.size(); ++n)
    ASSERT_EQ(inspect_client_hello(hello.substr(0, n)), HelloAlpn::need_more) << n;
}

TEST(Http2ClientHello, AnythingElseIsNoH2) {
  EXPECT_EQ(inspect_client_hello("GET / HTTP/1.1\r\n"), HelloAlpn::no_h2);
  EXPECT_EQ(inspect_client_hello(std::string("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", 10)), HelloAlpn::no_h2);
  EXPECT_EQ(inspect_client_hello(std::string("\x16\x03\x01\xff\xff", 5)), HelloAlpn::no_h2);  // over 16 KiB
  // Garbage announcing a long record is refused at once, not waited for.
  EXPECT_EQ(inspect_client_hello(std::string(300, '\x16')), HelloAlpn::no_h2);
  EXPECT_EQ(inspect_client_hello(std::string("\x16\x03\x01\x10\x00\x02", 6)), HelloAlpn::no_h2);  // not a ClientHello
  EXPECT_EQ(inspect_client_hello(std::string("\x16\x03", 2)), HelloAlpn::need_more);
  // Lengths that overrun their record, at every truncation of a real hello's body.
  std::string hello = client_hello(std::string("\x02h2", 3));
  for (std::size_t cut = 5; cut < hello.size(); ++cut) {
    std::string broken = hello.substr(0, cut);
    const std::size_t body = cut - 5;
    broken[3] = static_cast<char>(body >> 8);
    broken[4] = static_cast<char>(body);
    EXPECT_EQ(inspect_client_hello(broken), HelloAlpn::no_h2) << cut;
  }
}

}  // namespace
}  // namespace keel::http2
