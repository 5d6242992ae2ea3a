#include "proxy/http2/response_head.hpp"

#include "proxy/http/forwarded_headers.hpp"

#include <charconv>

namespace keel::http2 {
namespace {

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  // NO_COPY: nghttp2 keeps the pointers until the frame is serialized, which
  // is why the caller keeps the storage alive; it copies nothing per header.
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

bool is_forwardable(const std::vector<http::Field>& fields, const http::Field& field) {
  if (http::is_hop_by_hop(field.id)) return false;
  if (field.id == http::beast_http::field::content_length) return false;  // from `content_length`
  return !http::is_named_by_connection(fields, field.name);
}

void set_number(std::string& text, std::uint64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  text.assign(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace

void make_response_headers(std::vector<nghttp2_nv>& out, std::string& names, std::string& status_text,
                           std::string& length_text, const ResponseHeadInput& input) {
  out.clear();
  names.clear();
  set_number(status_text, static_cast<std::uint64_t>(input.status));
  const auto& fields = *input.fields;
  // All lower-cased names go into `names` first, sized once, so that the views
  // taken below never move.
  std::size_t name_bytes = 0;
  for (const http::Field& field : fields)
    if (is_forwardable(fields, field)) name_bytes += field.name.size();
  names.reserve(name_bytes);
  out.reserve(fields.size() + 2);
  out.push_back(make_nv(":status", status_text));
  for (const http::Field& field : fields) {
    if (!is_forwardable(fields, field)) continue;
    const std::size_t at = names.size();
    for (const char c : field.name) names.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
    out.push_back(make_nv(std::string_view(names).substr(at, field.name.size()), field.value));
  }
  if (input.content_length) {
    set_number(length_text, *input.content_length);
    out.push_back(make_nv("content-length", length_text));
  }
}

}  // namespace keel::http2
