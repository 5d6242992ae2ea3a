#include "proxy/http/error_response.hpp"

#include <charconv>

namespace keel::http {

namespace {

std::string_view code_text(unsigned code, char (&storage)[8]) {
  const auto end = std::to_chars(storage, storage + sizeof storage, code).ptr;
  return {storage, static_cast<std::size_t>(end - storage)};
}

}  // namespace

std::size_t error_body_size(boost::beast::http::status status, std::string_view detail) {
  char storage[8];
  const std::size_t size = code_text(static_cast<unsigned>(status), storage).size() + 1 +
                           boost::beast::http::obsolete_reason(status).size() + 1;
  return detail.empty() ? size : size + 2 + detail.size();
}

void append_error_body(std::string& out, boost::beast::http::status status, std::string_view detail) {
  char storage[8];
  out.append(code_text(static_cast<unsigned>(status), storage))
      .append(" ")
      .append(boost::beast::http::obsolete_reason(status));
  if (!detail.empty()) out.append(": ").append(detail);
  out.append("\n");
}

void write_error_response(std::string& out, boost::beast::http::status status, bool keep_alive,
                          std::string_view detail) {
  char storage[8];
  char length_text[24];
  const auto length_end = std::to_chars(length_text, length_text + sizeof length_text, error_body_size(status, detail)).ptr;
  out.append("HTTP/1.1 ")
      .append(code_text(static_cast<unsigned>(status), storage))
      .append(" ")
      .append(boost::beast::http::obsolete_reason(status))
      .append("\r\n");
  out.append("Content-Type: text/plain\r\nContent-Length: ");
  out.append(length_text, static_cast<std::size_t>(length_end - length_text)).append("\r\n");
  if (status == boost::beast::http::status::service_unavailable) out.append("Retry-After: 1\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
  append_error_body(out, status, detail);
}

}  // namespace keel::http
