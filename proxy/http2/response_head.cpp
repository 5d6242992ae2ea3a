#include "proxy/http2/response_head.hpp"

#include "proxy/http/forwarded_headers.hpp"

#include <charconv>

namespace keel::http2 {
namespace {

// Names: nghttp2 keeps the pointer until the frame is serialized, which is why
// the caller keeps `names` alive. Values are copied at submission: they point
// into the backend's input buffer, which the exchange reads into again before
// the connection's writer serializes the frame.
nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NO_COPY_NAME};
}

void append_lower(std::string& out, std::string_view text) {
  for (const char c : text) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
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
    append_lower(names, field.name);
    out.push_back(make_nv(std::string_view(names).substr(at, field.name.size()), field.value));
  }
  if (input.content_length) {
    set_number(length_text, *input.content_length);
    out.push_back(make_nv("content-length", length_text));
  }
}

void make_trailer_headers(std::vector<nghttp2_nv>& out, std::string& storage, const std::vector<http::Field>& fields) {
  out.clear();
  storage.clear();
  std::size_t bytes = 0;
  for (const http::Field& field : fields) bytes += field.name.size() + field.value.size();
  storage.reserve(bytes);  // the views taken below never move
  for (const http::Field& field : fields) {
    const std::size_t at = storage.size();
    append_lower(storage, field.name);
    storage.append(field.value);
    const std::string_view all(storage);
    out.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(all.data() + at)),
                             reinterpret_cast<uint8_t*>(const_cast<char*>(all.data() + at + field.name.size())),
                             field.name.size(), field.value.size(),
                             NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
  }
}

}  // namespace keel::http2
