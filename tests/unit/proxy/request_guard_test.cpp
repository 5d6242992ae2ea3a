#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/request_guard.hpp"
#include "tests/unit/proxy/http_test_support.hpp"

namespace keel::http {
namespace {

using namespace std::string_view_literals;
using test_support::ParsedRequest;

struct RawCase {
  std::string_view head;
  GuardResult expected;
};

TEST(ScanRawHead, FindsWhatBeastLetsThrough) {
  const std::vector<RawCase> cases = {
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n"sv, GuardResult::ok},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b c\td\r\n\r\n"sv, GuardResult::ok},  // inner SP and HT
      {"GET / HTTP/1.1\r\n\r\n"sv, GuardResult::ok},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"sv, GuardResult::obs_fold},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"sv, GuardResult::obs_fold},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tTransfer-Encoding: chunked\r\n\r\n"sv, GuardResult::obs_fold},
      {"GET / HTTP/1.1\r\n Host: a\r\n\r\n"sv, GuardResult::obs_fold},  // right after the request line
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n  \r\n\r\n"sv, GuardResult::obs_fold},
      {"GET / HTTP/1.1\r\nHost: a\r\nX\0A: b\r\n\r\n"sv, GuardResult::nul_byte},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n"sv, GuardResult::nul_byte},
      {"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"sv, GuardResult::nul_byte},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\0\r\n"sv, GuardResult::nul_byte},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"sv, GuardResult::bare_cr},
      {"GET / HTTP/1.1\rHost: a\r\n\r\n"sv, GuardResult::bare_cr},
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\r\n\r\n"sv, GuardResult::bare_cr},
      {"GET / HTTP/1.1\r\nHost: a\r\n\r"sv, GuardResult::bare_cr},  // CR as the last byte
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\r"sv, GuardResult::bare_cr},
  };
  for (const RawCase& c : cases) EXPECT_EQ(scan_raw_head(c.head), c.expected) << c.head;
}

TEST(ScanRawHead, FirstProblemWins) {
  EXPECT_EQ(scan_raw_head("GET / HTTP/1.1\r\nX: \0\r\n y\r\n\r\n"sv), GuardResult::nul_byte);
  EXPECT_EQ(scan_raw_head("GET / HTTP/1.1\r\nX: y\r\n z\0\r\n\r\n"sv), GuardResult::obs_fold);
}

// Beast itself takes an obs-fold line, so the raw scan is what refuses it.
TEST(ScanRawHead, BeastAcceptsWhatTheScanRefuses) {
  ParsedRequest request("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n");
  EXPECT_FALSE(request.ec) << request.ec.message();
  EXPECT_TRUE(request.parser.is_header_done());
  EXPECT_EQ(scan_raw_head(std::string_view(request.bytes).substr(0, request.used)), GuardResult::obs_fold);
}

struct HeadCase {
  std::string message;
  GuardResult expected;
  std::string_view host = {};  // on ok
};

void expect_checks(const std::vector<HeadCase>& cases) {
  for (const HeadCase& c : cases) {
    ParsedRequest request(c.message);
    ASSERT_FALSE(request.ec) << c.message << ": " << request.ec.message();
    ASSERT_TRUE(request.parser.is_header_done()) << c.message;
    std::string_view host = "unset";
    EXPECT_EQ(check_request_head(request.parser, host), c.expected) << c.message;
    if (c.expected == GuardResult::ok) {
      EXPECT_EQ(host, c.host) << c.message;
    }
  }
}

TEST(CheckRequestHead, Host) {
  expect_checks({
      {"GET / HTTP/1.1\r\nHost: a.b:80\r\n\r\n", GuardResult::ok, "a.b:80"},
      {"GET / HTTP/1.1\r\nhost: Shop.Test\r\n\r\n", GuardResult::ok, "Shop.Test"},
      {"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", GuardResult::ok, "[::1]:8080"},
      {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", GuardResult::ok, "localhost"},
      {"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", GuardResult::missing_host},
      {"GET / HTTP/1.1\r\n\r\n", GuardResult::missing_host},
      {"GET / HTTP/1.0\r\n\r\n", GuardResult::ok, ""},
      {"GET / HTTP/1.0\r\nHost: old.test\r\n\r\n", GuardResult::ok, "old.test"},
      {"GET / HTTP/1.0\r\nHost: bad host\r\n\r\n", GuardResult::invalid_host},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", GuardResult::multiple_host},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", GuardResult::multiple_host},
      {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", GuardResult::multiple_host},
      {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", GuardResult::invalid_host},
      {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", GuardResult::invalid_host},
      {"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", GuardResult::invalid_host},
      {"GET / HTTP/1.1\r\nHost: \r\n\r\n", GuardResult::invalid_host},
      {"GET / HTTP/1.1\r\nHost:\r\n\r\n", GuardResult::invalid_host},
      {"GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n", GuardResult::invalid_host},
  });
}

TEST(CheckRequestHead, TransferEncoding) {
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  expect_checks({
      {post + "Transfer-Encoding: chunked\r\n\r\n", GuardResult::ok, "a"},
      {post + "Transfer-Encoding: Chunked\r\n\r\n", GuardResult::ok, "a"},
      {post + "Transfer-Encoding: gzip, chunked\r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: chunked, gzip\r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: identity\r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: chunked, chunked\r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: xchunked\r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: \r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", GuardResult::bad_transfer_encoding},
      {post + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\n", GuardResult::bad_transfer_encoding},
      {"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", GuardResult::bad_transfer_encoding},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", GuardResult::bad_transfer_encoding},
      // Framing is judged before Host: a smuggling attempt is named as one.
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", GuardResult::bad_transfer_encoding},
  });
}

TEST(CheckRequestHead, Target) {
  expect_checks({
      {"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::ok, "h"},
      {"GET /x?q=1&r=%2F HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::ok, "h"},
      {"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::ok, "h"},
      {"GET HTTPS://h:8443/x HTTP/1.1\r\nHost: h:8443\r\n\r\n", GuardResult::ok, "h:8443"},
      {"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::ok, "h"},
      {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::ok, "h"},
      {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::bad_target},
      {"OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::bad_target},
      {"GET x HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::bad_target},
      {"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::bad_target},
      {"GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::bad_target},
      {"GET http:/h/x HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::bad_target},
      {"GET x HTTP/1.1\r\n\r\n", GuardResult::bad_target},  // the target is judged first
  });
}

// RFC 9112 §3.2.2: a server must ignore Host for an absolute-form target. keel
// routes by Host, so a target naming another host is refused rather than
// letting keel and the backend disagree on who the request is for.
TEST(CheckRequestHead, AbsoluteFormMustNameTheHostItIsSentTo) {
  expect_checks({
      {"GET http://H.test:80/x HTTP/1.1\r\nHost: h.test\r\n\r\n", GuardResult::ok, "h.test"},
      {"GET http://h.test/x HTTP/1.1\r\nHost: h.test:8080\r\n\r\n", GuardResult::ok, "h.test:8080"},
      {"GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]\r\n\r\n", GuardResult::ok, "[::1]"},
      {"GET http://h.test?q HTTP/1.1\r\nHost: h.test\r\n\r\n", GuardResult::ok, "h.test"},
      {"GET http://evil.test/x HTTP/1.1\r\nHost: h.test\r\n\r\n", GuardResult::invalid_host},
      {"GET http://h.test.evil/x HTTP/1.1\r\nHost: h.test\r\n\r\n", GuardResult::invalid_host},
      {"GET http://user@h.test/x HTTP/1.1\r\nHost: h.test\r\n\r\n", GuardResult::invalid_host},
      {"GET http:///x HTTP/1.1\r\nHost: h.test\r\n\r\n", GuardResult::invalid_host},
      {"GET http://evil.test/x HTTP/1.0\r\nHost: h.test\r\n\r\n", GuardResult::invalid_host},
      {"GET http://h.test/x HTTP/1.0\r\n\r\n", GuardResult::ok, "h.test"},
      {"GET http://h.test:8080?q HTTP/1.0\r\n\r\n", GuardResult::ok, "h.test:8080"},
      {"GET http://user@h.test/x HTTP/1.0\r\n\r\n", GuardResult::invalid_host},
      {"GET http:///x HTTP/1.0\r\n\r\n", GuardResult::invalid_host},
      {"GET /x HTTP/1.0\r\n\r\n", GuardResult::ok, ""},
  });
}

TEST(CheckRequestHead, ConnectIsRefused) {
  expect_checks({
      {"CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n", GuardResult::unsupported_method},
      {"CONNECT a.b:443 HTTP/1.1\r\n\r\n", GuardResult::unsupported_method},
      {"CONNECT a.b:443 HTTP/1.0\r\n\r\n", GuardResult::unsupported_method},
  });
}

TEST(CheckRequestHead, OtherMethodsPass) {
  for (const std::string_view method : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PURGE"}) {
    expect_checks({{std::string(method) + " /r HTTP/1.1\r\nHost: h\r\n\r\n", GuardResult::ok, "h"}});
  }
}

TEST(CheckRequestHead, EmptyTargetNeverReachesTheGuard) {
  ParsedRequest request("GET  HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(request.ec);
  EXPECT_FALSE(request.parser.is_header_done());
}

TEST(IsValidHost, Accepts) {
  for (const std::string_view host :
       {"a", "a.b:80", "localhost", "[::1]:8080", "[::1]", "[2001:db8::1]", "[::ffff:192.0.2.1]:1",
        "127.0.0.1", "127.0.0.1:8080", "xn--bcher-kva.example", "under_score.test", "a-b.c-d", "a:",
        "a:65535", "A.B", "%41.test", "sub.delims!$&'()*+,;="}) {
    EXPECT_TRUE(is_valid_host(host)) << host;
  }
}

TEST(IsValidHost, Refuses) {
  for (const std::string_view host :
       {""sv, " "sv, "a b"sv, "a/b"sv, "a@b"sv, "user:pw@a"sv, ":80"sv, "[]"sv, "[::1"sv, "[::1]x"sv,
        "[::1]:x"sv, "[::g]"sv, "[::1]:123456"sv, "a:b:c"sv, "a:123456"sv, "a:8o"sv, "a:-1"sv, "a\tb"sv,
        "a?b"sv, "a#b"sv, "a\\b"sv, "a\"b"sv, "<a>"sv, "a\0b"sv, "\xc3\xa4.test"sv, "[::1]]"sv}) {
    EXPECT_FALSE(is_valid_host(host)) << host;
  }
}

TEST(DescribeGuardResult, EveryResultHasItsOwnText) {
  const std::vector<GuardResult> all = {
      GuardResult::ok,           GuardResult::obs_fold,     GuardResult::nul_byte,
      GuardResult::bare_cr,      GuardResult::missing_host, GuardResult::multiple_host,
      GuardResult::invalid_host, GuardResult::bad_transfer_encoding, GuardResult::bad_target,
      GuardResult::unsupported_method};
  std::set<std::string_view> texts;
  for (const GuardResult result : all) {
    const std::string_view text = describe(result);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.find_first_of("\r\n"), std::string_view::npos) << text;  // goes into a body line
    texts.insert(text);
  }
  EXPECT_EQ(texts.size(), all.size());
  EXPECT_EQ(describe(GuardResult::ok), "ok");
  EXPECT_EQ(describe(GuardResult::obs_fold), "obsolete line folding in header");
}

}  // namespace
}  // namespace keel::http
