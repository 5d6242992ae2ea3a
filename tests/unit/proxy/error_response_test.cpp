#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/error_response.hpp"
#include "tests/unit/proxy/http_test_support.hpp"

namespace keel::http {
namespace {

using boost::beast::http::status;
using test_support::Outcome;

TEST(ErrorResponse, ExactBytes) {
  std::string out;
  write_error_response(out, status::bad_gateway, true);
  EXPECT_EQ(out,
            "HTTP/1.1 502 Bad Gateway\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 16\r\n"
            "\r\n"
            "502 Bad Gateway\n");
}

TEST(ErrorResponse, ExactBytesWithDetailRetryAfterAndClose) {
  std::string out;
  write_error_response(out, status::service_unavailable, false, "no backend available");
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 46\r\n"
            "Retry-After: 1\r\n"
            "Connection: close\r\n"
            "\r\n"
            "503 Service Unavailable: no backend available\n");
}

TEST(ErrorResponse, AppendsToWhatIsAlreadyThere) {
  std::string out = "earlier bytes";
  write_error_response(out, status::bad_request, true);
  EXPECT_EQ(out.substr(0, 13 + 12), "earlier bytesHTTP/1.1 400");
}

// Every status of the contract, with and without detail and keep-alive, read
// back by a real parser: the length must frame exactly the body.
TEST(ErrorResponse, EveryContractStatusParsesBack) {
  const std::vector<status> statuses = {
      status::bad_request,     status::method_not_allowed, status::request_timeout,
      status::payload_too_large, status::request_header_fields_too_large, status::bad_gateway,
      status::service_unavailable, status::gateway_timeout};
  for (const status code : statuses) {
    for (const std::string_view detail : {std::string_view{}, std::string_view{"invalid chunked body"}}) {
      for (const bool keep_alive : {true, false}) {
        std::string out;
        write_error_response(out, code, keep_alive, detail);
        const Outcome parsed = test_support::parse_response(out, Framing::length);
        const std::string where = std::to_string(static_cast<unsigned>(code)) + " '" + std::string(detail) +
                                  "' keep_alive " + std::to_string(keep_alive);
        ASSERT_FALSE(parsed.ec) << where << ": " << parsed.ec.message();
        ASSERT_TRUE(parsed.done) << where;
        EXPECT_EQ(parsed.head_bytes + parsed.body_bytes, out.size()) << where;  // nothing after the body

        const std::string reason(boost::beast::http::obsolete_reason(code));
        const std::string number = std::to_string(static_cast<unsigned>(code));
        EXPECT_EQ(parsed.start_line, number + " " + reason) << where;
        std::string body = number + " " + reason;
        if (!detail.empty()) body += ": " + std::string(detail);
        EXPECT_EQ(parsed.output, body + "\n") << where;

        int retry_after = 0;
        int connection_close = 0;
        int content_length = 0;
        for (const auto& f : parsed.fields) {
          retry_after += f.id == boost::beast::http::field::retry_after;
          content_length += f.id == boost::beast::http::field::content_length;
          connection_close += f.id == boost::beast::http::field::connection && f.value == "close";
        }
        EXPECT_EQ(retry_after, code == status::service_unavailable ? 1 : 0) << where;
        EXPECT_EQ(connection_close, keep_alive ? 0 : 1) << where;
        EXPECT_EQ(content_length, 1) << where;
        EXPECT_EQ(parsed.fields.front().name, "Content-Type") << where;
        EXPECT_EQ(parsed.fields.front().value, "text/plain") << where;
      }
    }
  }
}

TEST(ErrorResponse, LongDetailKeepsTheLengthRight) {
  const std::string detail(5000, 'd');
  std::string out;
  write_error_response(out, status::bad_request, true, detail);
  const Outcome parsed = test_support::parse_response(out, Framing::length);
  ASSERT_FALSE(parsed.ec);
  ASSERT_TRUE(parsed.done);
  EXPECT_EQ(parsed.output, "400 Bad Request: " + detail + "\n");
}

}  // namespace
}  // namespace keel::http
