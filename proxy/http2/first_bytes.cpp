#include "proxy/http2/first_bytes.hpp"

namespace keel::http2 {

FirstBytes classify_plain(std::string_view peeked) {
  if (peeked.empty()) return FirstBytes::need_more;
  const std::size_t compared = peeked.size() < kConnectionPreface.size() ? peeked.size() : kConnectionPreface.size();
  if (peeked.substr(0, compared) != kConnectionPreface.substr(0, compared)) return FirstBytes::http1;
  return compared == kConnectionPreface.size() ? FirstBytes::http2 : FirstBytes::need_more;
}

// A TLS connection opens with a handshake record (content type 22). A request
// line opens with a method: upper-case letters (nginx checks the same byte).
FirstBytes classify_tls(std::string_view peeked) {
  if (peeked.empty()) return FirstBytes::need_more;
  const char first = peeked.front();
  return first >= 'A' && first <= 'Z' ? FirstBytes::plain_http : FirstBytes::tls;
}

}  // namespace keel::http2
