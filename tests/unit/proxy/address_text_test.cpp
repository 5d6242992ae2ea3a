#include "proxy/http/address_text.hpp"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

namespace keel::http {
namespace {

namespace ip = boost::asio::ip;

TEST(AddressText, EveryOctetValueInEveryPositionMatchesAsio) {
  for (unsigned value = 0; value < 256; ++value) {
    for (std::size_t position = 0; position < 4; ++position) {
      ip::address_v4::bytes_type bytes{10, 20, 30, 40};
      bytes[position] = static_cast<unsigned char>(value);
      const ip::address address{ip::address_v4(bytes)};
      ASSERT_EQ(address_text(address), address.to_string()) << value << " at " << position;
    }
  }
}

TEST(AddressText, RandomAndEdgeIPv4AddressesMatchAsio) {
  std::mt19937 random(42);
  for (int i = 0; i < 100000; ++i) {
    const ip::address address{ip::address_v4(static_cast<ip::address_v4::uint_type>(random()))};
    ASSERT_EQ(address_text(address), address.to_string());
  }
  EXPECT_EQ(address_text(ip::make_address("0.0.0.0")), "0.0.0.0");
  EXPECT_EQ(address_text(ip::make_address("255.255.255.255")), "255.255.255.255");
  EXPECT_EQ(address_text(ip::make_address("127.0.0.1")), "127.0.0.1");
}

TEST(AddressText, IPv6UsesTheCanonicalText) {
  EXPECT_EQ(address_text(ip::make_address("::1")), "::1");
  EXPECT_EQ(address_text(ip::make_address("2001:DB8:0:0:0:0:0:1")), "2001:db8::1");
  EXPECT_EQ(address_text(ip::make_address("::ffff:10.0.0.1")), "::ffff:10.0.0.1");
}

TEST(EndpointText, BracketsIPv6SoThePortStaysUnambiguous) {
  EXPECT_EQ(endpoint_text({ip::make_address("127.0.0.1"), 8081}), "127.0.0.1:8081");
  EXPECT_EQ(endpoint_text({ip::make_address("0.0.0.0"), 0}), "0.0.0.0:0");
  EXPECT_EQ(endpoint_text({ip::make_address("::1"), 8081}), "[::1]:8081");
  EXPECT_EQ(endpoint_text({ip::make_address("::"), 443}), "[::]:443");
  EXPECT_EQ(endpoint_text({ip::make_address("2001:DB8::1"), 65535}), "[2001:db8::1]:65535");
  EXPECT_EQ(endpoint_text({ip::make_address("::ffff:10.0.0.1"), 80}), "[::ffff:10.0.0.1]:80");
}

TEST(EndpointText, MatchesAsioStreamOutput) {
  for (const char* text : {"10.20.30.40", "::1", "fe80::1", "2001:db8::8:800:200c:417a"}) {
    const ip::tcp::endpoint endpoint(ip::make_address(text), 1234);
    std::ostringstream asio_text;
    asio_text << endpoint;
    EXPECT_EQ(endpoint_text(endpoint), asio_text.str()) << text;
  }
}

}  // namespace
}  // namespace keel::http
