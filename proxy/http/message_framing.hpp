// Pure framing and keep-alive decisions of one exchange: which framing a body
// arrives in and leaves in, and whether each connection may carry another
// request afterwards. No I/O: the exchange gathers the facts, these decide
// (table-tested in tests/unit/proxy/message_framing_test.cpp). The one-liners
// are inline: they run on every request.
#pragma once

#include "proxy/http/forwarded_headers.hpp"
#include "proxy/http/head_parser.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <boost/optional/optional.hpp>

namespace keel::http {

// A client that speaks HTTP/2 gets response bodies unframed (DATA frames end
// with the stream); the version an exchange's client reports for it.
inline constexpr int kHttp2Version = 20;

// The request body towards the backend: as the client framed it (chunked stays
// chunked, a length stays that length), none without a body.
inline Framing request_framing(bool chunked, const boost::optional<std::uint64_t>& content_length) {
  if (chunked) return Framing::chunked;
  if (content_length) return Framing::length;
  return Framing::none;
}

// Chunked coding for a next hop, for a front end whose client does not frame
// the body in chunks itself (HTTP/2 DATA): one chunk (nothing for empty
// `data`), and the last chunk with the trailer fields (already filtered).
void append_chunk(std::string& out, std::string_view data);
void append_last_chunk(std::string& out, const std::vector<Field>& trailers = {});

// What is known of a final response head (not 1xx, not 101) when it is parsed.
struct ResponseHeadFacts {
  int status = 200;
  bool head_request = false;  // the request was HEAD: no body whatever the head says
  bool body_done = false;     // the parser is done with the message at the head
  bool chunked = false;
  boost::optional<std::uint64_t> content_length{};  // as Beast reports it
  int client_version = 11;  // 10, 11, or kHttp2Version
};

struct ResponsePlan {
  // How the body comes from the backend: none (no body, or already complete),
  // length (passed through untouched), chunked, or until_close.
  Framing from_backend = Framing::none;
  // How it goes to the client (framing, length, pass_content_length);
  // keep_alive is decided by keep_client_after_head().
  ResponseFraming to_client;
};

// Chunked and close-delimited bodies are re-framed: chunked for an HTTP/1.1
// client, until_close for HTTP/1.0 (no chunked) and HTTP/2 (unframed).
inline ResponsePlan plan_response(const ResponseHeadFacts& facts) {
  ResponsePlan plan;
  if (facts.body_done) {
    // HEAD and 304 describe a body they do not carry: their Content-Length goes
    // through as is. 204 has none; anything else complete at the head had
    // "Content-Length: 0" and says so.
    if (facts.head_request || facts.status == 304) {
      plan.to_client.pass_content_length = true;
    } else if (facts.status != 204) {
      plan.to_client.framing = Framing::length;
    }
    return plan;
  }
  if (facts.content_length && !facts.chunked) {
    plan.from_backend = Framing::length;
    plan.to_client.framing = Framing::length;
    plan.to_client.content_length = *facts.content_length;
    return plan;
  }
  plan.from_backend = facts.chunked ? Framing::chunked : Framing::until_close;
  plan.to_client.framing = facts.client_version == 11 ? Framing::chunked : Framing::until_close;
  return plan;
}

// Decided before the response head is written, which says "Connection: close"
// otherwise. A client still uploading when the answer starts (an early 413, say)
// loses the connection: the rest of its body cannot be told from a new request.
inline bool keep_client_after_head(bool keep_requested, Framing to_client, bool upload_unfinished) {
  return keep_requested && to_client != Framing::until_close && !upload_unfinished;
}

// What is known once the response body relay ended.
struct RelayFacts {
  bool upstream_intact = true;  // the backend sent a well-formed body and did not fail
  bool client_intact = true;    // every write to the client succeeded
  bool complete = false;        // the whole body went through
};

// After the relay: the client connection stays if it could at the head, the
// upload had finished when the response did, and neither side failed.
inline bool keep_client_after_relay(bool kept_at_head, bool upload_was_running, const RelayFacts& relay) {
  return kept_at_head && !upload_was_running && relay.upstream_intact && relay.client_intact;
}

// What decides whether a backend connection can be parked for the next request.
struct UpstreamEndFacts {
  RelayFacts relay;
  bool backend_keep_alive = true;  // the response did not say "Connection: close" (or HTTP/1.0)
  Framing from_backend = Framing::none;
  bool upload_failed = false;     // the request body did not reach the backend whole
  bool bytes_left_over = false;   // the backend sent more than the response
  bool socket_open = true;
};

inline bool keep_upstream_after(const UpstreamEndFacts& facts) {
  return facts.relay.upstream_intact && facts.relay.complete && facts.backend_keep_alive &&
         facts.from_backend != Framing::until_close && !facts.upload_failed && !facts.bytes_left_over &&
         facts.socket_open;
}

}  // namespace keel::http
