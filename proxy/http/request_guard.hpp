#pragma once

#include "proxy/http/head_parser.hpp"

#include <string_view>

namespace keel::http {

// Why a request is refused before any byte of it reaches a backend. Each maps to
// 400 except where noted; the text goes into the short error body.
enum class GuardResult {
  ok,
  obs_fold,             // a header line continued on the next line (RFC 9112 §5.2)
  nul_byte,             // NUL anywhere in the head
  bare_cr,              // CR not followed by LF
  missing_host,         // HTTP/1.1 without Host
  multiple_host,
  invalid_host,
  bad_transfer_encoding,  // anything but a single "chunked"
  bad_target,           // not origin-form, absolute-form or "*"
  unsupported_method,   // CONNECT (405)
};

std::string_view describe(GuardResult result);

// Scans the raw request head (request line through the empty line) for what
// Beast's parser lets through: obs-fold lines, NUL bytes and bare CR.
GuardResult scan_raw_head(std::string_view head);

// Checks the parsed head: Host present once and well formed (HTTP/1.1), a
// Transfer-Encoding of exactly "chunked", and a target keel can forward.
// On success `host` is the Host value (empty for an HTTP/1.0 request without one).
GuardResult check_request_head(const RequestParser& parser, std::string_view& host);

// RFC 3986 host[:port] with reg-name, IPv4 or bracketed IPv6 characters.
bool is_valid_host(std::string_view host);

}  // namespace keel::http
