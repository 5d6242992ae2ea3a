#pragma once

#include <boost/beast/http/status.hpp>

#include <string>
#include <string_view>

namespace keel::http {

// Appends a complete short plain-text error response, e.g. "502 Bad Gateway\n".
// 503 carries Retry-After; `detail` (optional) is appended to the body line so
// a client sees why a request was refused.
void write_error_response(std::string& out, boost::beast::http::status status, bool keep_alive,
                          std::string_view detail = {});

// The body line of that response, "503 Service Unavailable: detail\n", for a
// protocol that frames it itself (HTTP/2), and its size.
void append_error_body(std::string& out, boost::beast::http::status status, std::string_view detail = {});
std::size_t error_body_size(boost::beast::http::status status, std::string_view detail = {});

}  // namespace keel::http
