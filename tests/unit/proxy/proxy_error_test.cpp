#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "proxy/http/proxy_error.hpp"

namespace keel::http {
namespace {

using boost::beast::http::status;

TEST(ProxyError, StatusAndDetailTable) {
  struct Case {
    ProxyError error;
    status code;
    std::string_view detail;
  };
  const std::vector<Case> cases = {
      {ProxyError::malformed_request, status::bad_request, "malformed request"},
      {ProxyError::bad_body, status::bad_request, "invalid chunked body"},
      {ProxyError::head_timeout, status::request_timeout, ""},
      {ProxyError::body_timeout, status::request_timeout, "request body timed out"},
      {ProxyError::body_too_large, status::payload_too_large, ""},
      {ProxyError::head_too_large, status::request_header_fields_too_large, ""},
      {ProxyError::no_backend, status::service_unavailable, "no backend available"},
      {ProxyError::connect_failed, status::bad_gateway, "backend unreachable"},
      {ProxyError::upstream_send_failed, status::bad_gateway, ""},
      {ProxyError::upstream_send_timeout, status::gateway_timeout, ""},
      {ProxyError::upstream_timeout, status::gateway_timeout, "backend timed out"},
      {ProxyError::upstream_closed, status::bad_gateway, "backend closed the connection"},
      {ProxyError::bad_response, status::bad_gateway, "invalid response from backend"},
      {ProxyError::unexpected_upgrade, status::bad_gateway, "unexpected upgrade from backend"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(status_for(c.error), c.code) << static_cast<int>(c.error);
    EXPECT_EQ(describe(c.error), c.detail) << static_cast<int>(c.error);
  }
}

TEST(ProxyError, GuardRefusals) {
  EXPECT_EQ(status_for(GuardResult::unsupported_method), status::method_not_allowed);
  for (const GuardResult refusal : {GuardResult::obs_fold, GuardResult::nul_byte, GuardResult::bare_cr,
                                    GuardResult::missing_host, GuardResult::multiple_host, GuardResult::invalid_host,
                                    GuardResult::bad_transfer_encoding, GuardResult::bad_target})
    EXPECT_EQ(status_for(refusal), status::bad_request) << describe(refusal);
}

}  // namespace
}  // namespace keel::http
