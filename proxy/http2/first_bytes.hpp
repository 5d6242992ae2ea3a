// What a new client connection speaks, told from its first bytes: the HTTP/2
// connection preface on a plain listener (h2c with prior knowledge, RFC 9113
// §3.3; in the bytes the HTTP/1.1 connection read), or plain HTTP sent to a
// TLS listener (answered with a 400 in plain HTTP, as nginx does, rather than
// a failed handshake the client cannot explain). Pure.
#pragma once

#include <string_view>

namespace keel::http2 {

// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
inline constexpr std::string_view kConnectionPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class FirstBytes {
  need_more,   // a strict prefix of the preface so far: read or peek on
  http1,       // anything else on a plain listener
  http2,       // the whole preface
  tls,         // a TLS record (or anything that is not plain HTTP) on a TLS listener
  plain_http,  // an HTTP request line's first byte on a TLS listener
};

FirstBytes classify_plain(std::string_view peeked);
FirstBytes classify_tls(std::string_view peeked);

}  // namespace keel::http2
