#include "proxy/http/message_framing.hpp"

#include <charconv>

namespace keel::http {

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  char size_line[20];
  char* end = std::to_chars(size_line, size_line + 16, data.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(size_line, static_cast<std::size_t>(end - size_line)).append(data).append("\r\n");
}

void append_last_chunk(std::string& out, const std::vector<Field>& trailers) {
  out.append("0\r\n");
  for (const Field& field : trailers) out.append(field.name).append(": ").append(field.value).append("\r\n");
  out.append("\r\n");
}

}  // namespace keel::http
