// Requests with ambiguous or malformed framing are refused with 400 and nothing
// of them reaches a backend, however the bytes are split across reads.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

struct SmugglingCase {
  const char* name;
  std::string bytes;
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const SmugglingCase& c, std::ostream* os) { *os << c.name; }

std::vector<SmugglingCase> smuggling_cases() {
  using namespace std::string_literals;
  return {
      {"content-length and transfer-encoding",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"transfer-encoding then content-length",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
      {"differing content-length headers",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"},
      {"differing content-length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nabcde"},
      {"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
      {"chunk size overflow",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nx\r\n0\r\n\r\n"},
      {"transfer-encoding not chunked",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
      {"two transfer-encoding headers",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"transfer-encoding on HTTP/1.0",
       "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"},
      {"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tTransfer-Encoding: chunked\r\n\r\n"},
      {"NUL in header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n"s},
      {"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"},
      {"missing host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n"},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"invalid host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
      {"bare CR", "GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n"},
  };
}

class Smuggling : public ::testing::TestWithParam<SmugglingCase> {};

TEST_P(Smuggling, RefusedWhole) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw(GetParam().bytes));
  auto raw = client.read_raw_until_close_or();
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(raw.data.substr(0, 12), "HTTP/1.1 400") << raw.data;
  EXPECT_FALSE(backend.next_request_head(std::chrono::milliseconds(50)));
  EXPECT_EQ(backend.connection_count(), 0u);
}

TEST_P(Smuggling, RefusedAtEveryByteBoundary) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  const std::string& bytes = GetParam().bytes;
  for (std::size_t split = 1; split < bytes.size(); ++split) {
    TestClient client{keel.address()};
    ASSERT_FALSE(client.send_raw(bytes.substr(0, split)));
    client.send_raw(bytes.substr(split));  // may fail: keel can refuse before the rest
    auto raw = client.read_raw_until_close_or();
    ASSERT_TRUE(raw.closed) << "split " << split;
    ASSERT_EQ(raw.data.substr(0, 12), "HTTP/1.1 400") << "split " << split << ": " << raw.data;
  }
  EXPECT_EQ(backend.connection_count(), 0u);
  EXPECT_EQ(backend.request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Cases, Smuggling, ::testing::ValuesIn(smuggling_cases()),
                         [](const auto& info) {
                           std::string name;
                           for (const char* c = info.param.name; *c; ++c)
                             name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           return name;
                         });

TEST(RequestLimits, HeaderTooLargeIs431) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "limits:\n  max_header_bytes: 2048\n")};
  TestClient client{keel.address()};
  auto response = client.get("/", {{"X-Big", std::string(4096, 'a')}});
  EXPECT_EQ(response.result(), http::status::request_header_fields_too_large) << response.ec.message();
  EXPECT_EQ(backend.connection_count(), 0u);
}

TEST(RequestLimits, ContentLengthOverLimitIs413BeforeAnythingIsForwarded) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "limits:\n  max_body_bytes: 1000\n")};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n"));
  auto response = client.read_response();
  EXPECT_EQ(response.result(), http::status::payload_too_large) << response.ec.message();
  EXPECT_EQ(backend.connection_count(), 0u);
  TestClient ok{keel.address()};
  EXPECT_EQ(ok.request("POST", "/", {}, std::string(1000, 'x')).result(), http::status::ok);
}

TEST(RequestLimits, ChunkedBodyOverLimitIs413) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "limits:\n  max_body_bytes: 1000\n")};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n"));
  auto head = backend.next_request_head();  // streaming: the head went on
  ASSERT_TRUE(head);
  ASSERT_FALSE(client.send_raw("400\r\n" + std::string(1024, 'x') + "\r\n0\r\n\r\n"));
  auto response = client.read_response();
  EXPECT_EQ(response.result(), http::status::payload_too_large) << response.ec.message();
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(backend.request_count(), 0u);  // the backend never got a complete request
}

TEST(RequestLimits, SlowHeadIs408) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "timeouts:\n  client_header: 300ms\n")};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET / HTTP/1.1\r\nHost: a\r\n"));  // never finished
  auto raw = client.read_raw_until_close_or(std::chrono::seconds(3));
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(raw.data.substr(0, 12), "HTTP/1.1 408") << raw.data;
  EXPECT_EQ(backend.connection_count(), 0u);
}

TEST(RequestLimits, IdleClientIsClosedSilently) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "timeouts:\n  idle: 300ms\n")};
  TestClient client{keel.address()};
  ASSERT_EQ(client.get("/").result(), http::status::ok);
  auto raw = client.read_raw_until_close_or(std::chrono::seconds(3));
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(raw.data, "");
}

TEST(RequestLimits, ConnectionsPastMaxConnectionsAreRefused) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()}, "limits:\n  max_connections: 2\n")};
  TestClient first{keel.address()}, second{keel.address()};
  ASSERT_EQ(first.get("/").result(), http::status::ok);
  ASSERT_EQ(second.get("/").result(), http::status::ok);
  TestClient third{keel.address()};
  EXPECT_FALSE(third.get("/").ok()) << "a third connection must be refused";
  first.close();
  EXPECT_TRUE(wait_until([&] { return TestClient{keel.address()}.get("/").ok(); }, std::chrono::seconds(5)));
  EXPECT_EQ(second.get("/").result(), http::status::ok);  // the others are untouched
}

TEST(RequestLimits, MalformedRequestLineIs400) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  for (const char* bad : {"GET\r\n\r\n", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
                          "GET foo HTTP/1.1\r\nHost: a\r\n\r\n"}) {
    TestClient client{keel.address()};
    ASSERT_FALSE(client.send_raw(bad));
    auto raw = client.read_raw_until_close_or();
    EXPECT_TRUE(raw.closed) << bad;
    EXPECT_EQ(raw.data.substr(0, 13), "HTTP/1.1 400 ") << bad << " -> " << raw.data;
  }
  EXPECT_EQ(backend.connection_count(), 0u);
}

TEST(RequestLimits, ConnectIs405) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"));
  auto raw = client.read_raw_until_close_or();
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(raw.data.substr(0, 13), "HTTP/1.1 405 ") << raw.data;
  EXPECT_EQ(backend.connection_count(), 0u);
}

}  // namespace
}  // namespace keel::test
