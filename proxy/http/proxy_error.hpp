// Why keel answers a request itself instead of relaying a backend's response,
// and the one mapping from such an error to the status and the short detail
// line the client gets (docs/proxying.md, "Errors").
#pragma once

#include "proxy/http/request_guard.hpp"

#include <boost/beast/http/status.hpp>

#include <cstdint>
#include <string_view>

namespace keel::http {

enum class ProxyError : std::uint8_t {
  none,
  // The client's request.
  malformed_request,  // 400: the head did not parse
  bad_body,           // 400: a chunk size or chunk framing Beast refused
  head_timeout,       // 408: the head (or the first chunk size) came too slowly
  body_timeout,       // 408: the client stopped sending its body
  body_too_large,     // 413: past limits.max_body_bytes
  head_too_large,     // 431: past limits.max_header_bytes
  // The backend side.
  no_backend,           // 503: nothing to pick (the detail names the pool and why)
  connect_failed,       // 502: every backend tried was unreachable
  upstream_send_failed,   // 502: writing the request head failed
  upstream_send_timeout,  // 504: writing the request head timed out
  upstream_timeout,     // 504: no response head in time
  upstream_closed,      // 502: the backend closed before a response head
  bad_response,         // 502: the response head did not parse
  unexpected_upgrade,   // 502: a 101 the client did not ask for
};

boost::beast::http::status status_for(ProxyError error);
// The fixed detail line for the error body; empty when the status says it all.
// no_backend's detail is built by the exchange (it names the pool).
std::string_view describe(ProxyError error);

// A request the guard refused: 405 for CONNECT, else 400 (its describe() is the detail).
boost::beast::http::status status_for(GuardResult refusal);

}  // namespace keel::http
