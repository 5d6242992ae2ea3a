#include "proxy/http/message_framing.hpp"

namespace keel::http {

Framing request_framing(bool chunked, const boost::optional<std::uint64_t>& content_length) {
  if (chunked) return Framing::chunked;
  if (content_length) return Framing::length;
  return Framing::none;
}

ResponsePlan plan_response(const ResponseHeadFacts& facts) {
  ResponsePlan plan;
  if (facts.body_done) {
    // HEAD and 304 describe a body they do not carry: their Content-Length goes
    // through as is. 204 has none; anything else complete at the head had
    // "Content-Length: 0" (or HEAD-like framing) and says so.
    plan.from_backend = Framing::none;
    if (facts.head_request || facts.status == 304) {
      plan.to_client.pass_content_length = true;
    } else if (facts.status != 204) {
      plan.to_client.framing = Framing::length;
    }
    return plan;
  }
  if (facts.chunked) {
    plan.from_backend = Framing::chunked;
  } else if (facts.content_length) {
    plan.from_backend = Framing::length;
    plan.to_client.framing = Framing::length;
    plan.to_client.content_length = *facts.content_length;
    return plan;
  } else {
    plan.from_backend = Framing::until_close;
  }
  plan.to_client.framing =
      facts.client_version == 11 ? Framing::chunked : Framing::until_close;
  return plan;
}

bool keep_client_after_head(bool keep_requested, Framing to_client, bool upload_unfinished) {
  return keep_requested && to_client != Framing::until_close && !upload_unfinished;
}

bool keep_client_after_relay(bool kept_at_head, bool upload_was_running, const RelayFacts& relay) {
  return kept_at_head && !upload_was_running && relay.upstream_intact && relay.client_intact;
}

bool keep_upstream_after(const UpstreamEndFacts& facts) {
  return facts.relay.upstream_intact && facts.relay.complete && facts.backend_keep_alive &&
         facts.from_backend != Framing::until_close && !facts.upload_failed && !facts.bytes_left_over &&
         facts.socket_open;
}

}  // namespace keel::http
