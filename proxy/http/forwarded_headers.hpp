#pragma once

#include "proxy/config/config.hpp"
#include "proxy/http/head_parser.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::http {

struct ForwardContext {
  std::string_view client_ip;
  std::string_view proto;  // "http" or "https": the listener's scheme
  config::ForwardedMode mode = config::ForwardedMode::append;
  // Sent as Host when the client sent none (HTTP/1.0 allows that, the HTTP/1.1
  // request keel sends upstream does not): the address the client connected to.
  std::string_view default_host;
};

// True when some Connection header of `fields` names `name` (case-insensitive).
bool is_named_by_connection(const std::vector<Field>& fields, std::string_view name);

// GET with "Upgrade: websocket" and "Connection: upgrade": the only upgrade keel tunnels.
bool is_websocket_upgrade(const RequestParser& request);

// Appends the head sent upstream: the request line as HTTP/1.1, every end-to-end
// field of the client's request, framing for `framing`, then X-Forwarded-For,
// X-Forwarded-Proto, X-Forwarded-Host and Via. The upstream connection stays
// persistent, so no Connection header unless it carries a WebSocket upgrade.
void write_upstream_request_head(std::string& out, const RequestParser& request,
                                 std::string_view host, Framing framing,
                                 std::uint64_t content_length, bool websocket,
                                 const ForwardContext& context);

// A request head however it arrived (an HTTP/2 front end builds one from its
// pseudo-headers: `version` 11 with a Host field from :authority).
struct RequestHead {
  std::string_view method;
  std::string_view target;
  int version = 11;
  const std::vector<Field>& fields;
};

// The same for a head that did not come through a RequestParser.
void write_upstream_request_head(std::string& out, const RequestHead& request, std::string_view host,
                                 Framing framing, std::uint64_t content_length, bool websocket,
                                 const ForwardContext& context);

struct ResponseFraming {
  Framing framing = Framing::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;    // the client connection stays open after this response
  bool pass_content_length = false;  // HEAD and 304: the backend's Content-Length describes another body
  bool websocket = false;    // 101 to a WebSocket upgrade
  bool interim = false;      // a 1xx before the final response: no framing, no Connection
};

// Appends the head sent to the client: the status line as HTTP/1.1, every
// end-to-end field of the backend's response, framing and connection handling.
void write_client_response_head(std::string& out, const ResponseParser& response,
                                const ResponseFraming& framing, int client_version);

}  // namespace keel::http
