// A backend's response as keel reads it: RelayParser<false> with the connection's
// limits (interim 1xx responses, then the final one), the head keel writes to the
// client, and a chunked or read-until-close body re-framed for the client.
// The first input byte says what the client asked: bit 0 a HEAD request, bit 1
// an HTTP/1.0 client. Checks, besides the sanitizers:
// - the outcome does not depend on how the bytes arrive (all at once or in pieces);
// - every head keel writes to the client reads back with keel's parser, with the
//   status and the framing keel chose;
// - a re-chunked body is strict chunked coding of the bytes the backend sent.
#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/head_parser.hpp"
#include "tests/fuzz/relay_feed.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace keel;
using keel::fuzz::Relay;

constexpr std::uint32_t kMaxResponseHeadBytes = 64 * 1024;  // as in client_connection.cpp
constexpr int kMaxInterim = 64;

struct Seen {
  std::vector<std::string> client_heads;  // interim ones, then the final one
  Relay relay;                            // the final response's
  http::Framing to_client = http::Framing::none;
  bool bad_status = false;
};

// The client head must read back with the status and framing keel chose.
void check_client_head(const std::string& head, int status, const http::ResponseFraming& framing,
                       bool head_request) {
  std::vector<http::Field> fields;
  http::ResponseParser again(fields);
  again.header_limit(1 << 20);
  if (head_request) again.skip(true);
  boost::beast::error_code ec;
  const std::size_t used = again.put(boost::asio::const_buffer(head.data(), head.size()), ec);
  KEEL_FUZZ_CHECK(!ec || ec == boost::beast::http::error::need_more);
  KEEL_FUZZ_CHECK(again.is_header_done() && used == head.size());
  KEEL_FUZZ_CHECK(again.status() == status);
  if (framing.interim || framing.websocket) return;
  KEEL_FUZZ_CHECK(again.chunked() == (framing.framing == http::Framing::chunked));
  if (framing.framing == http::Framing::length)
    KEEL_FUZZ_CHECK(again.content_length() && *again.content_length() == framing.content_length);
  if (framing.framing == http::Framing::until_close && !head_request)
    KEEL_FUZZ_CHECK(!again.content_length() && !again.chunked());
}

Seen run(std::string_view response, bool head_request, int client_version, bool split) {
  Seen seen;
  std::string input(response);
  for (int interim = 0; interim <= kMaxInterim; ++interim) {
    std::vector<http::Field> fields;
    http::ResponseParser parser(fields);
    parser.header_limit(kMaxResponseHeadBytes);
    parser.body_limit(boost::none);
    if (head_request) parser.skip(true);
    bool again = false;
    seen.relay = fuzz::relay(parser, fuzz::pieces(input, split), true,
                             [&](http::ResponseParser& p, std::string_view) -> std::optional<http::Framing> {
      const int code = p.status();
      // Issue 10 item 6: a status outside 100-599 is an invalid response (502).
      if (code < 100 || code > 599) {
        seen.bad_status = true;
        return std::nullopt;
      }
      std::string out;
      if (code < 200 && code != 101) {
        if (client_version >= 11) {
          http::write_client_response_head(out, p, {.interim = true}, client_version);
          check_client_head(out, code, {.interim = true}, false);
        }
        seen.client_heads.push_back(out);
        again = true;
        return http::Framing::none;  // no body; the next response follows
      }
      http::ResponseFraming framing;
      if (code == 101) {
        framing.websocket = true;
      } else if (p.is_done()) {
        if (head_request || code == 304)
          framing.pass_content_length = true;
        else if (code != 204)
          framing.framing = http::Framing::length;
      } else if (p.content_length()) {
        framing.framing = http::Framing::length;
        framing.content_length = *p.content_length();
      } else {
        framing.framing = client_version >= 11 ? http::Framing::chunked : http::Framing::until_close;
      }
      framing.keep_alive = framing.framing != http::Framing::until_close;
      http::write_client_response_head(out, p, framing, client_version);
      check_client_head(out, code, framing, head_request);
      seen.client_heads.push_back(out);
      seen.to_client = framing.framing;
      // A Content-Length body and a tunnel are relayed as bytes, not parsed.
      if (code == 101 || (framing.framing == http::Framing::length && !p.is_done())) return std::nullopt;
      return framing.framing;
    });
    if (!again) break;
    input = seen.relay.rest;
  }
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool head_request = (data[0] & 1) != 0;
  const int client_version = (data[0] & 2) != 0 ? 10 : 11;
  const std::string_view response(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Seen whole = run(response, head_request, client_version, false);
  const Seen split = run(response, head_request, client_version, true);

  // Heads are accepted whichever way they arrive (refusals may come at
  // different times, as in fuzz_request_head.cpp).
  KEEL_FUZZ_CHECK(whole.bad_status == split.bad_status);
  KEEL_FUZZ_CHECK(split.relay.head_done == whole.relay.head_done);
  KEEL_FUZZ_CHECK(split.client_heads == whole.client_heads);
  const Relay& r = whole.relay;
  if (!r.head_done || r.refused || r.failed || split.relay.failed) return 0;
  KEEL_FUZZ_CHECK(split.relay.done == r.done);
  KEEL_FUZZ_CHECK(split.relay.body_bytes == r.body_bytes);
  if (whole.to_client == http::Framing::chunked) {
    const auto a = fuzz::dechunk(r.body, !r.done);
    const auto b = fuzz::dechunk(split.relay.body, !split.relay.done);
    KEEL_FUZZ_CHECK(a && b && *a == *b && a->size() == r.body_bytes);
  } else {
    KEEL_FUZZ_CHECK(split.relay.body == r.body);
  }
  return 0;
}
