#include <gtest/gtest.h>

#include "proxy/tls/server_context.hpp"

#include <string>

namespace keel::tls {
namespace {

// ALPN's wire format: each name preceded by its length.
std::string wire(std::initializer_list<std::string_view> names) {
  std::string out;
  for (const auto name : names) out.append(1, static_cast<char>(name.size())).append(name);
  return out;
}

std::string_view choose(const std::string& offered, bool http2) {
  return select_alpn_protocol({reinterpret_cast<const unsigned char*>(offered.data()), offered.size()}, http2);
}

TEST(Http2Alpn, H2IsPreferredWhenTheListenerHasHttp2) {
  EXPECT_EQ(choose(wire({"http/1.1", "h2"}), true), "h2");  // our preference, not the client's order
  EXPECT_EQ(choose(wire({"h2", "http/1.1"}), true), "h2");
  EXPECT_EQ(choose(wire({"http/1.1"}), true), "http/1.1");
  EXPECT_EQ(choose(wire({"h2"}), true), "h2");
  EXPECT_EQ(choose(wire({"h3", "spdy/3"}), true), "");
}

TEST(Http2Alpn, OnlyHttp11WithHttp2Off) {
  EXPECT_EQ(choose(wire({"h2", "http/1.1"}), false), "http/1.1");
  EXPECT_EQ(choose(wire({"h2"}), false), "");
}

}  // namespace
}  // namespace keel::tls
