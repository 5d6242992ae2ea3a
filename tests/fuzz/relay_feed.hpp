// Drives a RelayParser the way ClientConnection does, for the HTTP fuzz targets:
// bytes arrive in pieces, one put() per arrival on everything not yet used, the
// head is handled (and its views read) the moment it is done, then the body is
// re-framed with eager parsing. Invariants the connection relies on abort with
// a message, so that libFuzzer keeps the input.
#pragma once

#include "proxy/http/head_parser.hpp"
#include "tests/fuzz/check.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::fuzz {

// The pieces a socket delivers `data` in: all of it at once, or (split) pieces of
// 1 to 16 bytes from a small generator seeded by the data, so one input always
// arrives the same way and its crash reproduces.
inline std::vector<std::string_view> pieces(std::string_view data, bool split) {
  if (!split || data.empty()) return {data};
  std::uint32_t state = 2166136261u;
  for (const char c : data) state = (state ^ static_cast<unsigned char>(c)) * 16777619u;
  std::vector<std::string_view> out;
  while (!data.empty()) {
    state = state * 1664525u + 1013904223u;
    const std::size_t size = std::min<std::size_t>(data.size(), 1 + (state >> 28));
    out.push_back(data.substr(0, size));
    data.remove_prefix(size);
  }
  return out;
}

// Strictly decodes what RelayParser emits as chunked (lower-case hex sizes, no
// extensions, no empty chunk before the last, trailer fields as "name: value"
// lines); nullopt otherwise. A body still running (no last chunk yet) is
// accepted when `partial`.
inline std::optional<std::string> dechunk(std::string_view text, bool partial) {
  std::string body;
  for (;;) {
    if (partial && text.empty()) return body;
    const auto line_end = text.find("\r\n");
    if (line_end == std::string_view::npos || line_end == 0 || line_end > 16) return std::nullopt;
    const std::string_view size_text = text.substr(0, line_end);
    if (size_text.size() > 1 && size_text.front() == '0') return std::nullopt;
    std::uint64_t size = 0;
    for (const char c : size_text) {
      const bool digit = c >= '0' && c <= '9';
      if (!digit && !(c >= 'a' && c <= 'f')) return std::nullopt;
      size = size * 16 + static_cast<std::uint64_t>(digit ? c - '0' : c - 'a' + 10);
    }
    text.remove_prefix(line_end + 2);
    if (size == 0) {
      // Trailer fields that go through: "name: value" lines, a name of token
      // characters, a value without CR or LF; then the empty line.
      while (text.substr(0, 2) != "\r\n") {
        const auto end = text.find("\r\n");
        if (end == std::string_view::npos) return std::nullopt;
        const std::string_view line = text.substr(0, end);
        const auto colon = line.find(": ");
        if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
        for (const char c : line.substr(0, colon))
          if (c <= ' ' || c == ':' || c > '~') return std::nullopt;
        if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) return std::nullopt;
        text.remove_prefix(end + 2);
      }
      if (text != "\r\n") return std::nullopt;
      return body;
    }
    if (text.size() < size + 2 || text.substr(size, 2) != "\r\n") return std::nullopt;
    body.append(text.substr(0, size));
    text.remove_prefix(size + 2);
  }
}

// What one message's relay did.
struct Relay {
  bool head_done = false;
  bool refused = false;   // the head callback refused the message (as a 4xx/5xx would)
  bool failed = false;    // the parser reported an error other than need_more
  boost::beast::error_code ec;
  bool done = false;      // the whole message, body included, was parsed
  std::size_t head_bytes = 0;
  std::string body;       // the body as re-framed for the next hop
  std::uint64_t body_bytes = 0;
  std::string rest;       // bytes after the message (a pipelined next one)
};

// `on_head(parser, head)` runs while the head's views are valid and returns the
// framing of the body output, or nullopt to refuse the message. With `eof` the
// peer closes after the last piece (a response read until close).
template <class Parser, class OnHead>
Relay relay(Parser& parser, const std::vector<std::string_view>& arrivals, bool eof, OnHead on_head) {
  namespace beast_http = boost::beast::http;
  Relay r;
  std::string buffer;
  const auto as_buffer = [&] { return boost::asio::const_buffer(buffer.data(), buffer.size()); };
  const auto finish = [&] {
    r.done = parser.is_done();
    r.body_bytes = parser.body_bytes();
    r.rest = buffer;
    return r;
  };
  const auto put_body = [&] {
    boost::beast::error_code ec;
    const std::size_t used = parser.put(as_buffer(), ec);
    KEEL_FUZZ_CHECK(used <= buffer.size());
    buffer.erase(0, used);
    if (ec && ec != beast_http::error::need_more) {
      r.failed = true;
      r.ec = ec;
    }
  };
  for (const std::string_view piece : arrivals) {
    buffer.append(piece);
    if (!r.head_done) {
      boost::beast::error_code ec;
      const std::size_t used = parser.put(as_buffer(), ec);
      if (!parser.is_header_done()) {
        if (ec && ec != beast_http::error::need_more) {
          r.failed = true;
          r.ec = ec;
          return finish();
        }
        // The connection puts its whole buffer again after need_more.
        KEEL_FUZZ_CHECK(used == 0);
        continue;
      }
      if (ec && ec != beast_http::error::need_more) {
        r.failed = true;
        r.ec = ec;
        return finish();
      }
      KEEL_FUZZ_CHECK(used > 0 && used <= buffer.size());
      KEEL_FUZZ_CHECK(std::string_view(buffer).substr(0, used).ends_with("\r\n\r\n"));
      r.head_done = true;
      r.head_bytes = used;
      const std::optional<http::Framing> framing = on_head(parser, std::string_view(buffer.data(), used));
      // The head's views die here, as when the connection consumes the head.
      std::fill(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(used), '\xee');
      buffer.erase(0, used);
      if (!framing) {
        r.refused = true;
        return finish();
      }
      parser.set_body_output(&r.body, *framing);
      parser.eager(true);
    }
    if (!buffer.empty() && !parser.is_done()) put_body();
    if (r.failed) return finish();
  }
  if (r.head_done && !parser.is_done() && !buffer.empty()) {
    // Every piece got one put(): one more on the same bytes must find nothing
    // new to do, or the connection would wait for bytes it already holds.
    const std::uint64_t before = parser.body_bytes();
    boost::beast::error_code ec;
    const std::size_t used = parser.put(as_buffer(), ec);
    KEEL_FUZZ_CHECK(used == 0);
    KEEL_FUZZ_CHECK(!parser.is_done());
    KEEL_FUZZ_CHECK(parser.body_bytes() == before);
  }
  if (eof && r.head_done && !parser.is_done()) {
    boost::beast::error_code ec;
    parser.put_eof(ec);
    if (ec) {
      r.failed = true;
      r.ec = ec;
    }
  }
  return finish();
}

}  // namespace keel::fuzz
