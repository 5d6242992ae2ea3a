// A chunked body as keel decodes and re-frames it: the input is the body of a
// "Transfer-Encoding: chunked" request, relayed with the request's limits, once
// re-chunked (towards a backend) and once plain (what the body decodes to).
// Checks, besides the sanitizers:
// - the outcome does not depend on how the bytes arrive (all at once or in pieces);
// - the re-chunked output is strict chunked coding of exactly the body's bytes,
//   with no extension passed through, trailer fields as strict "name: value" lines;
// - a body over the limit is refused (413), never relayed past it.
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

constexpr std::string_view kHead =
    "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
// Small enough that the fuzzer reaches it, so the limit path is fuzzed too.
constexpr std::uint64_t kBodyLimit = 4'096;

Relay run(std::string_view body, bool split, http::Framing output) {
  std::string message(kHead);
  message.append(body);
  std::vector<http::Field> fields;
  http::RequestParser parser(fields);
  parser.header_limit(16'384);
  parser.body_limit(kBodyLimit);
  std::vector<std::string_view> arrivals{std::string_view(message).substr(0, kHead.size())};
  for (const std::string_view piece : fuzz::pieces(std::string_view(message).substr(kHead.size()), split))
    arrivals.push_back(piece);
  Relay relay = fuzz::relay(parser, arrivals, false, [&](http::RequestParser& p, std::string_view) {
    KEEL_FUZZ_CHECK(p.chunked());
    return std::optional<http::Framing>(output);
  });
  KEEL_FUZZ_CHECK(relay.head_done);
  KEEL_FUZZ_CHECK(relay.body_bytes <= kBodyLimit);
  return relay;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const Relay chunked = run(body, false, http::Framing::chunked);
  const Relay plain = run(body, false, http::Framing::length);
  const Relay pieces = run(body, true, http::Framing::length);

  KEEL_FUZZ_CHECK(plain.failed == chunked.failed && plain.ec == chunked.ec);
  KEEL_FUZZ_CHECK(plain.done == chunked.done && plain.body_bytes == chunked.body_bytes);
  KEEL_FUZZ_CHECK(plain.body.size() == plain.body_bytes);
  // A refusal may come at another byte in pieces (a short bad chunk header
  // waits for a few more bytes; Beast resumes scanning where a piece ended),
  // but a body one way refuses is never complete the other way.
  if (pieces.failed || plain.failed) {
    KEEL_FUZZ_CHECK(!pieces.done && !plain.done);
    return 0;
  }
  const auto decoded = fuzz::dechunk(chunked.body, !chunked.done);
  KEEL_FUZZ_CHECK(decoded && *decoded == plain.body);
  KEEL_FUZZ_CHECK(pieces.done == plain.done);
  // An unfinished body may be held back a little longer in pieces: after need_more
  // the parser waits for at least 5 bytes (a chunked body always ends with
  // "0\r\n\r\n", so more always come); what went through is a prefix.
  if (!plain.done) {
    KEEL_FUZZ_CHECK(pieces.body_bytes <= plain.body_bytes);
    KEEL_FUZZ_CHECK(std::string_view(plain.body).substr(0, pieces.body.size()) == pieces.body);
    return 0;
  }
  // A whole body is the same whichever way it arrived.
  KEEL_FUZZ_CHECK(pieces.body_bytes == plain.body_bytes);
  KEEL_FUZZ_CHECK(pieces.body == plain.body);
  KEEL_FUZZ_CHECK(pieces.rest == plain.rest);
  return 0;
}
