#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "proxy/http/head_parser.hpp"

namespace keel::http::test_support {

inline constexpr std::uint32_t kHeaderLimit = 8192;

// A chunked request with extensions, upper-case and zero-padded sizes and a
// trailer; what it carries, and how RelayParser re-frames it (the trailer goes
// through, the extensions do not).
inline constexpr std::string_view kChunkedRequest =
    "POST /upload HTTP/1.1\r\n"
    "Host: a\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "4;name=\"quoted; value\"\r\nWiki\r\n"
    "5\r\npedia\r\n"
    "000E;x\r\n in\r\n\r\nchunks.\r\n"
    "0;final=1\r\nExpires: never\r\n\r\n";
inline constexpr std::string_view kChunkedBody = "Wikipedia in\r\n\r\nchunks.";
inline constexpr std::string_view kReframedChunks =
    "4\r\nWiki\r\n5\r\npedia\r\ne\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";

struct Limits {
  std::uint32_t header = kHeaderLimit;
  std::optional<std::uint64_t> body = std::nullopt;  // none: unlimited
};

template <class Parser>
void set_limits(Parser& parser, const Limits& limits) {
  parser.header_limit(limits.header);
  parser.body_limit(limits.body ? boost::optional<std::uint64_t>(*limits.body)
                                : boost::optional<std::uint64_t>());
}

inline boost::asio::const_buffer as_buffer(std::string_view bytes) {
  return boost::asio::const_buffer(bytes.data(), bytes.size());
}

// A parsed head whose field views point into `bytes`, which lives as long as it.
template <class Parser>
struct ParsedHead {
  // `skip_body`: parse as the response to a HEAD request.
  explicit ParsedHead(std::string message, Limits limits = {}, bool skip_body = false)
      : bytes(std::move(message)), parser(fields) {
    set_limits(parser, limits);
    if (skip_body) parser.skip(true);
    used = parser.put(as_buffer(bytes), ec);
  }
  ParsedHead(const ParsedHead&) = delete;
  ParsedHead& operator=(const ParsedHead&) = delete;

  std::string bytes;
  std::vector<Field> fields;
  Parser parser;
  boost::beast::error_code ec;
  std::size_t used = 0;
};

using ParsedRequest = ParsedHead<RequestParser>;
using ParsedResponse = ParsedHead<ResponseParser>;

struct FieldCopy {
  beast_http::field id;
  std::string name;
  std::string value;
  bool operator==(const FieldCopy&) const = default;
};

inline std::vector<FieldCopy> copy_fields(const std::vector<Field>& fields) {
  std::vector<FieldCopy> copies;
  for (const Field& field : fields)
    copies.push_back({field.id, std::string(field.name), std::string(field.value)});
  return copies;
}

// What a whole parse produced, copied out of the buffer.
struct Outcome {
  boost::beast::error_code ec;  // the first error other than need_more
  bool header_done = false;
  bool done = false;
  std::size_t head_bytes = 0;   // bytes used up to and including the end of the head
  std::vector<FieldCopy> fields;
  int version = 0;
  std::string start_line;       // "METHOD target" or "status reason"
  std::string output;           // the body as re-framed for the next hop
  std::uint64_t body_bytes = 0;
  std::uint64_t chunk_headers = 0;
  bool operator==(const Outcome&) const = default;
};

inline void PrintTo(const Outcome& o, std::ostream* os) {
  *os << "{ec: " << o.ec.message() << ", header_done: " << o.header_done << ", done: " << o.done
      << ", head_bytes: " << o.head_bytes << ", version: " << o.version << ", start_line: \"" << o.start_line
      << "\", fields:";
  for (const FieldCopy& f : o.fields) *os << " [" << f.name << ": " << f.value << "]";
  *os << ", output: \"" << o.output << "\", body_bytes: " << o.body_bytes
      << ", chunk_headers: " << o.chunk_headers << "}";
}

template <class Parser>
std::string start_line_of(const Parser& parser) {
  if constexpr (std::is_same_v<Parser, RequestParser>)
    return std::string(parser.method_text()) + " " + std::string(parser.target());
  else
    return std::to_string(parser.status()) + " " + std::string(parser.reason());
}

// Feeds `message` the way a connection does: bytes arrive in pieces ending at
// each of `cuts` (ascending), unused bytes stay at the front of the buffer,
// and put() is called until it uses nothing more. The head is copied out the
// moment it is done, as the proxy rewrites it before reading on. With `eof`
// the peer closes after the last byte.
template <class Parser>
Outcome parse(std::string_view message, Framing output_framing,
              const std::vector<std::size_t>& cuts = {}, bool eof = false,
              Limits limits = {}, bool skip_body = false) {
  Outcome outcome;
  std::vector<Field> fields;
  Parser parser(fields);
  set_limits(parser, limits);
  if (skip_body) parser.skip(true);

  std::string buffer;
  std::size_t fed = 0;
  std::size_t consumed = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(message.size());
  for (const std::size_t end : ends) {
    buffer.append(message.substr(fed, end - fed));
    fed = end;
    while (!buffer.empty() && !parser.is_done()) {
      boost::beast::error_code ec;
      const bool header_was_done = parser.is_header_done();
      const std::size_t used = parser.put(as_buffer(buffer), ec);
      if (!header_was_done && parser.is_header_done()) {
        outcome.header_done = true;
        outcome.head_bytes = consumed + used;
        outcome.fields = copy_fields(parser.fields());
        outcome.version = parser.version();
        outcome.start_line = start_line_of(parser);
        parser.set_body_output(&outcome.output, output_framing);
      }
      buffer.erase(0, used);
      consumed += used;
      if (ec == beast_http::error::need_more) break;
      if (ec) {
        outcome.ec = ec;
        outcome.done = parser.is_done();
        outcome.body_bytes = parser.body_bytes();
        return outcome;
      }
      if (used == 0) break;
    }
  }
  if (eof && parser.got_some() && !parser.is_done()) parser.put_eof(outcome.ec);
  outcome.done = parser.is_done();
  outcome.body_bytes = parser.body_bytes();
  outcome.chunk_headers = parser.chunk_headers_seen();
  return outcome;
}

inline Outcome parse_request(std::string_view message, Framing output_framing,
                             const std::vector<std::size_t>& cuts = {}, Limits limits = {}) {
  return parse<RequestParser>(message, output_framing, cuts, false, limits);
}

inline Outcome parse_response(std::string_view message, Framing output_framing,
                              const std::vector<std::size_t>& cuts = {}, bool eof = false,
                              Limits limits = {}, bool skip_body = false) {
  return parse<ResponseParser>(message, output_framing, cuts, eof, limits, skip_body);
}

// Strictly decodes what RelayParser emits as chunked: lower-case hex sizes
// without leading zeros or extensions, no empty chunk before the last; a
// trailer section is appended after "\n[trailer]\n". nullopt when `text` is
// anything else.
inline std::optional<std::string> dechunk(std::string_view text) {
  std::string body;
  for (;;) {
    const auto line_end = text.find("\r\n");
    if (line_end == std::string_view::npos || line_end == 0) return std::nullopt;
    const std::string_view size_text = text.substr(0, line_end);
    if (size_text.size() > 1 && size_text.front() == '0') return std::nullopt;
    std::uint64_t size = 0;
    for (const char c : size_text) {
      int digit = 0;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else
        return std::nullopt;
      size = size * 16 + static_cast<std::uint64_t>(digit);
    }
    text.remove_prefix(line_end + 2);
    if (size == 0) {
      // The trailer section, kept as it is after the body so it is compared too.
      if (text.size() < 2 || text.substr(text.size() - 2) != "\r\n") return std::nullopt;
      if (text != "\r\n") body.append("\n[trailer]\n").append(text);
      return body;
    }
    if (text.size() < size + 2 || text.substr(size, 2) != "\r\n") return std::nullopt;
    body.append(text.substr(0, size));
    text.remove_prefix(size + 2);
  }
}

// The lines of a complete head, without their CRLF and without the empty line
// that ends it; a single "<not a complete head>" entry otherwise.
inline std::vector<std::string> head_lines(std::string_view head) {
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n")
    return {"<not a complete head>"};
  head.remove_suffix(2);
  std::vector<std::string> lines;
  while (!head.empty()) {
    const auto end = head.find("\r\n");
    lines.emplace_back(head.substr(0, end));
    head.remove_prefix(end + 2);
  }
  return lines;
}

}  // namespace keel::http::test_support
