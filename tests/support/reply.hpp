// How a TestBackend answers one request, and the deterministic body pattern it can send.
#pragma once

#include "tests/support/recorded_request.hpp"

#include <boost/beast/http/status.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel::test {

namespace http = boost::beast::http;

// Byte `offset` of the deterministic body Reply::pattern sends: non-repeating within any
// 61 consecutive bytes, so a lost, duplicated or reordered piece shows.
char pattern_byte(std::uint64_t offset);
std::string pattern_bytes(std::uint64_t offset, std::size_t length);
// True if data equals pattern_bytes(offset, data.size()).
bool is_pattern(std::string_view data, std::uint64_t offset = 0);

// What the backend does with one request. An aggregate: use the factories, the with_*
// modifiers or designated initializers (`Reply{.status = http::status::not_found}`).
struct Reply {
  // Every member has an initializer so that designated initializers stay clear of GCC 12's
  // -Wmissing-field-initializers.
  enum class Kind {
    respond,       // an HTTP response, shaped by the fields below
    hang,          // no answer at all; the connection is held until the peer closes it
    close,         // close the connection at once, without a byte
    raw,           // send `body` verbatim (e.g. garbage); then close unless keep_alive
    upgrade_echo,  // 101 Switching Protocols, then echo every byte until the peer closes
  };

  Kind kind = Kind::respond;
  http::status status = http::status::ok;
  // Sent in order after the status line. A Content-Length or Transfer-Encoding here turns
  // automatic framing off: `body` is then sent as is (pre-encode it yourself), which is
  // how a test sends conflicting or broken framing.
  Headers headers{};
  std::string body{};
  // Send pattern_bytes(0, n) instead of `body`, generated piecewise (never held whole).
  std::optional<std::uint64_t> pattern_size{};
  std::chrono::milliseconds delay{0};  // before the head, on an async timer
  bool hold_head = false;              // wait for TestBackend::release() before the head
  bool chunked = false;                // Transfer-Encoding: chunked
  std::size_t chunks = 1;              // chunked: the body is split into this many chunks
  std::chrono::milliseconds chunk_interval{0};  // chunked: pause before every chunk but the first
  bool hold_last_chunk = false;        // chunked: wait for release() before the last chunk
  Headers trailers{};                  // chunked: trailer fields sent after the last chunk
  // Close the connection after the head and this many body bytes (of the payload, not of
  // the chunk encoding): a backend that dies mid-body.
  std::optional<std::uint64_t> close_after_body_bytes{};
  // false: answer with "Connection: close" and close after the reply. The backend also
  // closes when the request asked for it.
  bool keep_alive = true;

  static Reply text(std::string body, http::status status = http::status::ok);
  // Content-Length framed pattern body of `size` bytes.
  static Reply pattern(std::uint64_t size);
  // `body` split into `chunks` chunks, `interval` apart.
  static Reply streamed(std::string body, std::size_t chunks, std::chrono::milliseconds interval);
  // Declares Content-Length `declared_size` (pattern body), sends `sent_bytes`, closes.
  static Reply close_mid_body(std::uint64_t declared_size, std::uint64_t sent_bytes);
  static Reply hang();
  static Reply close_without_response();
  static Reply garbage(std::string bytes = "this is not HTTP at all\r\n\r\n");
  static Reply upgrade_echo();

  Reply& with_header(std::string name, std::string value) &;
  Reply with_header(std::string name, std::string value) &&;
  Reply& with_delay(std::chrono::milliseconds d) &;
  Reply with_delay(std::chrono::milliseconds d) &&;
  Reply& held() &;   // hold_head = true
  Reply held() &&;
  Reply& closing() &;  // keep_alive = false
  Reply closing() &&;
};

}  // namespace keel::test
