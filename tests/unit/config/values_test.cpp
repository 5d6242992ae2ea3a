#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/config/config.hpp"

namespace keel::config {
namespace {

using namespace std::chrono_literals;

struct DurationCase {
  std::string text;
  std::optional<Milliseconds> expected;
};

TEST(ParseDuration, Table) {
  const std::vector<DurationCase> cases = {
      {"250ms", 250ms},
      {"0ms", 0ms},
      {"0s", 0ms},
      {"2s", 2s},
      {"1m", 1min},
      {"1h", 1h},
      {"1.5s", 1500ms},
      {"0.25s", 250ms},
      {"1.0s", 1s},
      {"1.50s", 1500ms},
      {"0.001s", 1ms},
      {"1.5m", 90s},
      {"0.5h", 30min},
      {"007s", 7s},
      {"100000h", 100'000h},
      {"9223372036854775807ms", Milliseconds(9'223'372'036'854'775'807)},
      // Malformed.
      {"", std::nullopt},
      {"s", std::nullopt},
      {"ms", std::nullopt},
      {"5", std::nullopt},
      {"1.5", std::nullopt},
      {"5x", std::nullopt},
      {"5sec", std::nullopt},
      {"5S", std::nullopt},
      {"5 s", std::nullopt},
      {" 5s", std::nullopt},
      {"5s ", std::nullopt},
      {"5d", std::nullopt},
      {"5us", std::nullopt},
      {"1h30m", std::nullopt},
      {".5s", std::nullopt},
      {"1.s", std::nullopt},
      {"1..5s", std::nullopt},
      {"+5s", std::nullopt},
      {"-5s", std::nullopt},
      {"-0s", std::nullopt},
      {"1e3ms", std::nullopt},
      // Finer than a millisecond: refused rather than rounded.
      {"1.5ms", std::nullopt},
      {"0.0001s", std::nullopt},
      // Overflow.
      {"9223372036854775808ms", std::nullopt},
      {"9223372036854775807s", std::nullopt},
      {"2562047788015216h", std::nullopt},
      {"99999999999999999999999s", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_duration(c.text), c.expected) << "'" << c.text << "'";
}

struct SplitCase {
  std::string text;
  std::optional<std::string> host;  // nullopt: rejected
  std::uint16_t port = 0;
  std::string problem;
};

TEST(SplitHostPort, Table) {
  const std::vector<SplitCase> cases = {
      {"127.0.0.1:8081", "127.0.0.1", 8081, ""},
      {"0.0.0.0:8080", "0.0.0.0", 8080, ""},
      {"localhost:80", "localhost", 80, ""},
      {"app1.internal:65535", "app1.internal", 65535, ""},
      {"127.0.0.1:0", "127.0.0.1", 0, ""},
      {"host:00080", "host", 80, ""},
      {"[::1]:8080", "::1", 8080, ""},
      {"[::]:8080", "::", 8080, ""},
      {"[fe80::1%eth0]:80", "fe80::1%eth0", 80, ""},
      {"[2001:db8::1]:443", "2001:db8::1", 443, ""},
      {"", std::nullopt, 0, "the address is empty"},
      {"127.0.0.1", std::nullopt, 0, "missing port (expected host:port)"},
      {"127.0.0.1:", std::nullopt, 0, "missing port"},
      {":8080", std::nullopt, 0, "the host is empty"},
      {"127.0.0.1:65536", std::nullopt, 0, "the port must be from 0 to 65535"},
      {"127.0.0.1:99999999999999999999", std::nullopt, 0, "the port must be from 0 to 65535"},
      {"127.0.0.1:-1", std::nullopt, 0, "the port must be a number"},
      {"127.0.0.1:+80", std::nullopt, 0, "the port must be a number"},
      {"127.0.0.1:http", std::nullopt, 0, "the port must be a number"},
      {"127.0.0.1:80 ", std::nullopt, 0, "the port must be a number"},
      {"::1:8080", std::nullopt, 0, "an IPv6 address needs brackets, as in [::1]:8080"},
      {"a:b:80", std::nullopt, 0, "an IPv6 address needs brackets, as in [::1]:8080"},
      {"host:80:90", std::nullopt, 0, "more than one ':' (expected host:port)"},
      {"127.0.0.1:80\r\nX: y", std::nullopt, 0, "the address contains a control character (byte 0x0D)"},
      {std::string("127.0.0.1:80\0", 13), std::nullopt, 0, "the address contains a control character (byte 0x00)"},
      {"127.0.0.1\t:80", std::nullopt, 0, "the address contains a control character (byte 0x09)"},
      {"http://127.0.0.1:5002", std::nullopt, 0, "a scheme (http://) is not allowed here; write 127.0.0.1:5002"},
      {"https://[::1]:443", std::nullopt, 0,
       "a scheme (https://) is not allowed here; write [::1]:443 (HTTPS is set with 'tls', not in the address)"},
      {"127.0.0.1:5002/path", std::nullopt, 0, "the address contains '/'; write host:port"},
      {"user@host:80", std::nullopt, 0, "the address contains '@'; write host:port"},
      {"[::1]", std::nullopt, 0, "missing port"},
      {"[::1]:", std::nullopt, 0, "missing port"},
      {"[::1]8080", std::nullopt, 0, "expected ':' and a port after ']'"},
      {"[::1:8080", std::nullopt, 0, "missing ']'"},
      {"::1]:8080", std::nullopt, 0, "unbalanced brackets"},
      {"[[::1]]:80", std::nullopt, 0, "unbalanced brackets"},
      {"[]:80", std::nullopt, 0, "the host is empty"},
      {"[localhost]:80", std::nullopt, 0, "brackets are only for IPv6 addresses"},
  };
  for (const auto& c : cases) {
    std::string problem;
    const auto split = split_host_port(c.text, problem);
    EXPECT_EQ(split_host_port(c.text).has_value(), split.has_value()) << c.text;
    if (!c.host) {
      EXPECT_FALSE(split) << "'" << c.text << "' gave host '" << split->host << "'";
      EXPECT_EQ(problem, c.problem) << c.text;
      continue;
    }
    ASSERT_TRUE(split) << "'" << c.text << "': " << problem;
    EXPECT_EQ(split->host, *c.host) << c.text;
    EXPECT_EQ(split->port, c.port) << c.text;
  }
}

struct AddressCase {
  std::string text;
  bool allow_port_zero;
  std::string endpoint;  // as "address port", or the problem when rejected
  bool ok;
};

TEST(ParseAddress, Table) {
  const std::vector<AddressCase> cases = {
      {"127.0.0.1:8081", false, "127.0.0.1 8081", true},
      {"0.0.0.0:8080", true, "0.0.0.0 8080", true},
      {"[::]:8080", true, ":: 8080", true},
      {"[::1]:9", false, "::1 9", true},
      {"127.0.0.1:0", true, "127.0.0.1 0", true},
      {"localhost:8081", false, "127.0.0.1 8081", true},  // the IPv4 result is preferred
      {"127.0.0.1:0", false, "the port must be from 1 to 65535", false},
      {"127.0.0.1:65536", false, "the port must be from 1 to 65535", false},
      {"127.0.0.1:65536", true, "the port must be from 0 to 65535", false},
      {"[::1]:0", false, "the port must be from 1 to 65535", false},
      {"127.0.0.1:80\r\nX: y", false, "the address contains a control character (byte 0x0D)", false},
      {"http://127.0.0.1:5002", false, "a scheme (http://) is not allowed here; write 127.0.0.1:5002", false},
      {"10.1:80", false, "'10.1' is not an IPv4 address", false},
      {"256.0.0.1:80", false, "'256.0.0.1' is not an IPv4 address", false},
      {"[::g]:80", false, "'::g' is not an IPv6 address", false},
      {"bad_host!:80", false, "'bad_host!' is not a valid host name", false},
      {"a..b:80", false, "'a..b' is not a valid host name", false},
      {"-a:80", false, "'-a' is not a valid host name", false},
      {"a b:80", false, "'a b' is not a valid host name", false},
  };
  for (const auto& c : cases) {
    std::string problem;
    const auto address = parse_address(c.text, c.allow_port_zero, problem);
    if (!c.ok) {
      EXPECT_FALSE(address) << c.text;
      EXPECT_EQ(problem, c.endpoint) << c.text;
      continue;
    }
    ASSERT_TRUE(address) << c.text << ": " << problem;
    EXPECT_EQ(address->text, c.text);
    EXPECT_EQ(address->endpoint.address().to_string() + " " + std::to_string(address->endpoint.port()),
              c.endpoint);
  }
}

// One backend, one entry: every spelling of 127.0.0.1:18081 is one endpoint.
TEST(ParseAddress, SpellingsOfOneEndpointAreTheSame) {
  std::string problem;
  const auto plain = parse_address("127.0.0.1:18081", false, problem);
  ASSERT_TRUE(plain) << problem;
  for (const std::string text : {"127.0.0.1:018081", "localhost:18081", "[::ffff:127.0.0.1]:18081",
                                 "[::FFFF:7f00:1]:18081"}) {
    const auto other = parse_address(text, false, problem);
    ASSERT_TRUE(other) << text << ": " << problem;
    EXPECT_EQ(other->text, text);  // the address as written is kept for display
    EXPECT_TRUE(same_endpoint(plain->endpoint, other->endpoint)) << text;
    EXPECT_TRUE(same_endpoint(other->endpoint, plain->endpoint)) << text;
  }
  for (const std::string text : {"127.0.0.1:18082", "127.0.0.2:18081", "[::1]:18081", "[::127.0.0.1]:18081"}) {
    const auto other = parse_address(text, false, problem);
    ASSERT_TRUE(other) << text << ": " << problem;
    EXPECT_FALSE(same_endpoint(plain->endpoint, other->endpoint)) << text;
  }
}

TEST(CanonicalEndpoint, MapsIPv4MappedIPv6ToIPv4AndLeavesTheRest) {
  namespace ip = boost::asio::ip;
  const ip::tcp::endpoint mapped(ip::make_address("::ffff:10.1.2.3"), 80);
  EXPECT_EQ(canonical_endpoint(mapped), ip::tcp::endpoint(ip::make_address("10.1.2.3"), 80));
  for (const char* address : {"10.1.2.3", "::1", "2001:db8::1", "::10.1.2.3"}) {
    const ip::tcp::endpoint endpoint(ip::make_address(address), 443);
    EXPECT_EQ(canonical_endpoint(endpoint), endpoint) << address;
  }
}

// RFC 6761 reserves .invalid: no resolver answers it.
TEST(ParseAddress, UnresolvableNameIsAnError) {
  std::string problem;
  EXPECT_FALSE(parse_address("keel-test.invalid:80", false, problem));
  EXPECT_TRUE(problem.starts_with("cannot resolve 'keel-test.invalid': ")) << problem;
}

struct StatusRangeCase {
  std::string text;
  std::optional<std::pair<int, int>> expected;
  std::string problem;
};

TEST(ParseStatusRange, Table) {
  const std::string help = "expected a status code like 200 or a range like 200-399";
  const std::vector<StatusRangeCase> cases = {
      {"200", std::pair(200, 200), ""},
      {"200-399", std::pair(200, 399), ""},
      {"100-599", std::pair(100, 599), ""},
      {"204-204", std::pair(204, 204), ""},
      {"599", std::pair(599, 599), ""},
      {"", std::nullopt, help},
      {"-", std::nullopt, help},
      {"200-", std::nullopt, help},
      {"-399", std::nullopt, help},
      {"200-300-399", std::nullopt, help},
      {"2xx", std::nullopt, help},
      {" 200", std::nullopt, help},
      {"200 - 399", std::nullopt, help},
      {"+200", std::nullopt, help},
      {"0200", std::nullopt, help},
      {"99", std::nullopt, "status codes are from 100 to 599, got 99"},
      {"600", std::nullopt, "status codes are from 100 to 599, got 600"},
      {"000", std::nullopt, "status codes are from 100 to 599, got 000"},
      {"200-600", std::nullopt, "status codes are from 100 to 599, got 600"},
      {"399-200", std::nullopt, "the range is reversed (399 > 200)"},
  };
  for (const auto& c : cases) {
    std::string problem;
    const auto range = parse_status_range(c.text, problem);
    if (!c.expected) {
      EXPECT_FALSE(range) << "'" << c.text << "'";
      EXPECT_EQ(problem, c.problem) << "'" << c.text << "'";
      continue;
    }
    ASSERT_TRUE(range) << "'" << c.text << "': " << problem;
    EXPECT_EQ(range->min, c.expected->first) << c.text;
    EXPECT_EQ(range->max, c.expected->second) << c.text;
  }
}

}  // namespace
}  // namespace keel::config
