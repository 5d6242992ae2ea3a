// Whether a TLS ClientHello offers "h2" in its ALPN extension, read from the
// connection's first bytes (peeked, not consumed) before the handshake: a
// connection that will negotiate h2 goes to the HTTP/2 connection, which does
// the handshake itself; every other one to the HTTP/1.1 connection as before.
// Pure; bounds-checked against any input (fuzzed with the session).
#pragma once

#include <string_view>

namespace keel::http2 {

enum class HelloAlpn {
  need_more,  // the first record is not complete yet
  offers_h2,
  no_h2,      // no ALPN, no "h2" in it, or not a ClientHello keel can read (the handshake decides)
};

HelloAlpn inspect_client_hello(std::string_view peeked);

// The largest first record inspect_client_hello() waits for (a TLS record's
// plaintext limit plus its header).
inline constexpr std::size_t kMaxHelloRecord = 5 + 16384;

}  // namespace keel::http2
