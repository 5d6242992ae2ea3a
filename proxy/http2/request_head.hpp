// An HTTP/2 request's header block rewritten as the HTTP/1.1 request head keel
// reads from HTTP/1.1 clients, so that a stream runs through the same guard,
// routing, forwarding (X-Forwarded-*, Via) and exchange as an HTTP/1.1 request.
// Pure: no nghttp2, no I/O (the fuzz target and the table tests call it as is).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace keel::http2 {

// One header as nghttp2 hands it over: lower-case name, value without the
// leading and trailing whitespace RFC 9113 §8.2.1 forbids.
struct Header {
  std::string_view name;
  std::string_view value;
};

// Why a header block cannot become a request. Each is a malformed request
// (RFC 9113 §8.1.1: stream error PROTOCOL_ERROR) except too_large (431) and
// unsupported_method (405: keel tunnels no CONNECT).
enum class RequestHeadError {
  none,
  missing_pseudo_header,   // :method, :scheme or :path absent
  bad_pseudo_header,       // unknown, repeated, empty or after a regular header
  missing_authority,       // neither :authority nor host
  conflicting_host,        // host differs from :authority
  connection_specific,     // connection, keep-alive, proxy-connection, transfer-encoding, upgrade
  bad_te,                  // te other than "trailers"
  bad_name,                // upper case or not a token
  bad_value,               // CR, LF or NUL
  bad_path,                // neither origin-form nor "*" for OPTIONS
  unsupported_method,      // CONNECT (also extended CONNECT, RFC 8441)
  too_large,               // the HTTP/1.1 head would pass max_header_bytes
};

const char* describe(RequestHeadError error);

// Appends to `out` "METHOD PATH HTTP/1.1", "Host: <:authority>", the regular
// headers in order, the cookie pieces joined with "; " into one Cookie header
// (RFC 9113 §8.2.3), "Transfer-Encoding: chunked" when the stream carries a body
// of unannounced length (`has_body` without content-length: the caller frames
// DATA as chunks), and the final CRLF. "te: trailers" is dropped (hop-by-hop in
// HTTP/1.1). `max_bytes` bounds the whole head as max_header_bytes bounds an
// HTTP/1.1 one, cookie pieces included. On error `out` is left as it was.
RequestHeadError write_request_head(std::string& out, std::span<const Header> headers, bool has_body,
                                    std::size_t max_bytes);

}  // namespace keel::http2
