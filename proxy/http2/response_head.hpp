// A backend's HTTP/1.1 response head as the name-value list of an HTTP/2
// HEADERS frame. Pure: the nghttp2_nv structs point into `names`, which holds
// the lower-cased names and must outlive the frame's submission, and into the
// fields' values, which nghttp2 copies when the frame is submitted.
#pragma once

#include "proxy/http/head_parser.hpp"

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keel::http2 {

struct ResponseHeadInput {
  int status = 200;
  const std::vector<http::Field>* fields = nullptr;
  // The body length to announce: the backend's Content-Length for a length
  // body, or for HEAD and 304 (describing another body); none for chunked or
  // close-delimited bodies, which HTTP/2 frames by itself.
  std::optional<std::uint64_t> content_length;
};

// Fills `out` with ":status", then every end-to-end field (hop-by-hop ones and
// those named by Connection dropped, names lower-cased), then content-length.
// `status_text` and `length_text` are storage for the two numbers. Reuses the
// capacity of `out` and `names`: no allocation once they have grown.
void make_response_headers(std::vector<nghttp2_nv>& out, std::string& names, std::string& status_text,
                           std::string& length_text, const ResponseHeadInput& input);

// A response's trailer fields (already filtered by the response parser, see
// http::is_forwardable_trailer) as the name-value list of a trailing HEADERS
// frame: names lower-cased, names and values copied into `storage`, which must
// outlive the frame's submission.
void make_trailer_headers(std::vector<nghttp2_nv>& out, std::string& storage, const std::vector<http::Field>& fields);

}  // namespace keel::http2
