// The client's request as keel reads it: RelayParser<true> (head, then the body
// re-framed), the request guard (scan_raw_head, check_request_head), and the head
// keel writes upstream. Checks, besides the sanitizers:
// - the outcome does not depend on how the bytes arrive (all at once or in pieces);
// - a request the guard accepts becomes an upstream head that keel's own parser
//   and guard accept, with the same method, target and framing (no smuggling).
#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/head_parser.hpp"
#include "proxy/http/request_guard.hpp"
#include "tests/fuzz/relay_feed.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace keel;
using keel::fuzz::Relay;

constexpr std::uint32_t kHeaderLimit = 16'384;  // config default limits.max_header_bytes
constexpr std::uint64_t kBodyLimit = 1'000'000;

struct Seen {
  Relay relay;
  http::GuardResult raw = http::GuardResult::ok;
  http::GuardResult checked = http::GuardResult::ok;
  std::string upstream_head;
  http::Framing framing = http::Framing::none;
};

void set_limits(http::RequestParser& parser) {
  parser.header_limit(kHeaderLimit);
  parser.body_limit(kBodyLimit);
}

// The upstream head must read back as the same request.
void check_upstream_head(const std::string& head, const http::RequestParser& original, http::Framing framing,
                         std::uint64_t content_length) {
  std::vector<http::Field> fields;
  http::RequestParser again(fields);
  set_limits(again);
  again.header_limit(1 << 20);  // X-Forwarded-* are added on top of the client's head
  boost::beast::error_code ec;
  const std::size_t used = again.put(boost::asio::const_buffer(head.data(), head.size()), ec);
  KEEL_FUZZ_CHECK(!ec || ec == boost::beast::http::error::need_more);
  KEEL_FUZZ_CHECK(again.is_header_done());
  KEEL_FUZZ_CHECK(used == head.size());
  KEEL_FUZZ_CHECK(http::scan_raw_head(head) == http::GuardResult::ok);
  std::string_view host;
  KEEL_FUZZ_CHECK(http::check_request_head(again, host) == http::GuardResult::ok);
  KEEL_FUZZ_CHECK(again.method_text() == original.method_text());
  KEEL_FUZZ_CHECK(again.target() == original.target());
  KEEL_FUZZ_CHECK(again.chunked() == (framing == http::Framing::chunked));
  if (framing == http::Framing::length) {
    KEEL_FUZZ_CHECK(again.content_length() && *again.content_length() == content_length);
  } else {
    KEEL_FUZZ_CHECK(!again.content_length() || *again.content_length() == 0);
  }
}

Seen run(std::string_view data, bool split) {
  Seen seen;
  std::vector<http::Field> fields;
  http::RequestParser parser(fields);
  set_limits(parser);
  seen.relay = fuzz::relay(parser, fuzz::pieces(data, split), false,
                           [&](http::RequestParser& p, std::string_view head) -> std::optional<http::Framing> {
    seen.raw = http::scan_raw_head(head);
    if (seen.raw != http::GuardResult::ok) return std::nullopt;
    std::string_view host;
    seen.checked = http::check_request_head(p, host);
    if (seen.checked != http::GuardResult::ok) return std::nullopt;
    seen.framing = p.chunked() ? http::Framing::chunked
                   : p.content_length() ? http::Framing::length
                                        : http::Framing::none;
    const bool websocket = http::is_websocket_upgrade(p);
    const http::ForwardContext context{.client_ip = "192.0.2.1", .proto = "http",
                                       .mode = config::ForwardedMode::append,
                                       .default_host = "127.0.0.1:8080"};
    http::write_upstream_request_head(seen.upstream_head, p, host, seen.framing, p.content_length().value_or(0),
                                      websocket, context);
    check_upstream_head(seen.upstream_head, p, seen.framing, p.content_length().value_or(0));
    return seen.framing;
  });
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const Seen whole = run(bytes, false);
  const Seen split = run(bytes, true);
  // A head is accepted whichever way it arrives. Refusals may come at
  // different times: pieces may refuse garbage before a line ends, and Beast,
  // resuming its scan where the last piece ended, may wait for more bytes
  // (until the client_header timeout) where the whole buffer shows an error.
  KEEL_FUZZ_CHECK(split.relay.head_done == whole.relay.head_done);
  if (!whole.relay.head_done || !split.relay.head_done) return 0;
  KEEL_FUZZ_CHECK(split.relay.head_bytes == whole.relay.head_bytes);
  KEEL_FUZZ_CHECK(split.raw == whole.raw && split.checked == whole.checked);
  KEEL_FUZZ_CHECK(split.upstream_head == whole.upstream_head);
  if (whole.relay.refused) return 0;
  // A body refusal may come later in pieces (see fuzz_chunked_body.cpp), never
  // one or an end the whole body does not have.
  if (split.relay.failed) KEEL_FUZZ_CHECK(whole.relay.failed);
  if (whole.relay.failed) {
    KEEL_FUZZ_CHECK(!split.relay.done);
    return 0;
  }
  KEEL_FUZZ_CHECK(!split.relay.failed);
  KEEL_FUZZ_CHECK(split.relay.done == whole.relay.done);
  KEEL_FUZZ_CHECK(split.relay.body_bytes == whole.relay.body_bytes);
  if (whole.framing == http::Framing::chunked) {
    const auto a = fuzz::dechunk(whole.relay.body, !whole.relay.done);
    const auto b = fuzz::dechunk(split.relay.body, !split.relay.done);
    KEEL_FUZZ_CHECK(a && b && *a == *b && a->size() == whole.relay.body_bytes);
  } else {
    KEEL_FUZZ_CHECK(split.relay.body == whole.relay.body);
    KEEL_FUZZ_CHECK(whole.relay.body.size() == whole.relay.body_bytes);
  }
  if (whole.relay.done) KEEL_FUZZ_CHECK(split.relay.rest == whole.relay.rest);
  return 0;
}
