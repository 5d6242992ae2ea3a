#include "proxy/http/proxy_error.hpp"

namespace keel::http {

using boost::beast::http::status;

status status_for(ProxyError error) {
  switch (error) {
    case ProxyError::none:
      return status::ok;
    case ProxyError::malformed_request:
    case ProxyError::bad_body:
      return status::bad_request;
    case ProxyError::head_timeout:
    case ProxyError::body_timeout:
      return status::request_timeout;
    case ProxyError::body_too_large:
      return status::payload_too_large;
    case ProxyError::head_too_large:
      return status::request_header_fields_too_large;
    case ProxyError::no_backend:
      return status::service_unavailable;
    case ProxyError::upstream_send_timeout:
    case ProxyError::upstream_timeout:
      return status::gateway_timeout;
    case ProxyError::connect_failed:
    case ProxyError::upstream_send_failed:
    case ProxyError::upstream_closed:
    case ProxyError::bad_response:
    case ProxyError::unexpected_upgrade:
      return status::bad_gateway;
  }
  return status::internal_server_error;  // unreachable: every enumerator is listed
}

std::string_view describe(ProxyError error) {
  switch (error) {
    case ProxyError::malformed_request:
      return "malformed request";
    case ProxyError::bad_body:
      return "invalid chunked body";
    case ProxyError::body_timeout:
      return "request body timed out";
    case ProxyError::no_backend:
      return "no backend available";
    case ProxyError::connect_failed:
      return "backend unreachable";
    case ProxyError::upstream_timeout:
      return "backend timed out";
    case ProxyError::upstream_closed:
      return "backend closed the connection";
    case ProxyError::bad_response:
      return "invalid response from backend";
    case ProxyError::unexpected_upgrade:
      return "unexpected upgrade from backend";
    default:
      return {};
  }
}

status status_for(GuardResult refusal) {
  return refusal == GuardResult::unsupported_method ? status::method_not_allowed : status::bad_request;
}

}  // namespace keel::http
