#include "proxy/http/error_response.hpp"

#include <charconv>

namespace keel::http {

void write_error_response(std::string& out, boost::beast::http::status status, bool keep_alive,
                          std::string_view detail) {
  const auto code = static_cast<unsigned>(status);
  const std::string_view reason = boost::beast::http::obsolete_reason(status);
  char code_text[8];
  const auto code_end = std::to_chars(code_text, code_text + sizeof code_text, code).ptr;
  const std::string_view code_view(code_text, static_cast<std::size_t>(code_end - code_text));

  std::size_t body_length = code_view.size() + 1 + reason.size() + 1;
  if (!detail.empty()) body_length += 2 + detail.size();
  char length_text[24];
  const auto length_end = std::to_chars(length_text, length_text + sizeof length_text, body_length).ptr;

  out.append("HTTP/1.1 ").append(code_view).append(" ").append(reason).append("\r\n");
  out.append("Content-Type: text/plain\r\nContent-Length: ");
  out.append(length_text, static_cast<std::size_t>(length_end - length_text)).append("\r\n");
  if (status == boost::beast::http::status::service_unavailable) out.append("Retry-After: 1\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n").append(code_view).append(" ").append(reason);
  if (!detail.empty()) out.append(": ").append(detail);
  out.append("\n");
}

}  // namespace keel::http
