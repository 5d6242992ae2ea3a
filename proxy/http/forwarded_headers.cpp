#include "proxy/http/forwarded_headers.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include <charconv>

namespace keel::http {
namespace {

using boost::beast::iequals;

// Calls `visit` with each comma-separated, trimmed, non-empty token of `value`.
template <class Visit>
bool any_token(std::string_view value, Visit visit) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view token = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty() && visit(token)) return true;
  }
  return false;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

bool has_host_field(const std::vector<Field>& fields) {
  for (const Field& field : fields)
    if (field.id == beast_http::field::host) return true;
  return false;
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void append_framing(std::string& out, Framing framing, std::uint64_t content_length) {
  if (framing == Framing::length) {
    out.append("Content-Length: ");
    append_number(out, content_length);
    out.append("\r\n");
  } else if (framing == Framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
}

// Fields that are end-to-end for this message: not hop-by-hop, not named by
// Connection, not Content-Length (re-emitted from the framing we chose).
// `named_by_connection`: some Connection field names other fields (most heads
// have none, and then no field needs the scan of every field for it).
bool is_forwardable(const std::vector<Field>& fields, const Field& field, bool named_by_connection) {
  if (is_hop_by_hop(field.id)) return false;
  if (field.id == beast_http::field::content_length) return false;
  if (field.id == beast_http::field::host) return true;  // "Connection: host" must not strip routing
  return !named_by_connection || !is_named_by_connection(fields, field.name);
}

bool has_connection_field(const std::vector<Field>& fields) {
  for (const Field& field : fields)
    if (field.id == beast_http::field::connection) return true;
  return false;
}

}  // namespace

bool is_named_by_connection(const std::vector<Field>& fields, std::string_view name) {
  for (const Field& field : fields) {
    if (field.id != beast_http::field::connection) continue;
    if (any_token(field.value, [&](std::string_view token) { return iequals(token, name); }))
      return true;
  }
  return false;
}

bool is_websocket_upgrade(const RequestParser& request) {
  if (request.method() != beast_http::verb::get || request.version() < 11) return false;
  bool upgrade_websocket = false;
  bool connection_upgrade = false;
  for (const Field& field : request.fields()) {
    if (field.id == beast_http::field::upgrade)
      upgrade_websocket |= any_token(field.value, [](std::string_view t) { return iequals(t, "websocket"); });
    else if (field.id == beast_http::field::connection)
      connection_upgrade |= any_token(field.value, [](std::string_view t) { return iequals(t, "upgrade"); });
  }
  return upgrade_websocket && connection_upgrade;
}

void write_upstream_request_head(std::string& out, const RequestParser& request,
                                 std::string_view host, Framing framing,
                                 std::uint64_t content_length, bool websocket,
                                 const ForwardContext& context) {
  write_upstream_request_head(
      out, RequestHead{.method = request.method_text(), .target = request.target(), .version = request.version(),
                       .fields = request.fields()},
      host, framing, content_length, websocket, context);
}

void write_upstream_request_head(std::string& out, const RequestHead& request, std::string_view host,
                                 Framing framing, std::uint64_t content_length, bool websocket,
                                 const ForwardContext& context) {
  const auto& fields = request.fields;
  out.append(request.method);
  out.push_back(' ');
  out.append(request.target);
  out.append(" HTTP/1.1\r\n");
  // HTTP/1.0 may come without Host; the request goes on as HTTP/1.1, which needs one:
  // the host the guard found in an absolute-form target, else the listener's address.
  if (request.version < 11 && !has_host_field(fields)) {
    if (!host.empty())
      append_field(out, "Host", host);
    else if (!context.default_host.empty())
      append_field(out, "Host", context.default_host);
  }

  bool has_forwarded_for = false;
  bool has_via = false;
  const bool connection = has_connection_field(fields);
  for (const Field& field : fields) {
    if (field.id == beast_http::field::via) {
      has_via = true;
      continue;
    }
    if (field.id == beast_http::field::unknown) {
      // X-Forwarded-Proto/Host are set below from what keel saw, never trusted.
      if (iequals(field.name, "x-forwarded-for")) {
        has_forwarded_for = true;
        continue;
      }
      if (iequals(field.name, "x-forwarded-proto") || iequals(field.name, "x-forwarded-host"))
        continue;
    }
    if (!is_forwardable(fields, field, connection)) continue;
    append_field(out, field.name, field.value);
  }
  append_framing(out, framing, content_length);
  if (websocket) out.append("Connection: upgrade\r\nUpgrade: websocket\r\n");

  // Several X-Forwarded-For or Via lines fold into one list, oldest hop first.
  out.append("X-Forwarded-For: ");
  if (has_forwarded_for && context.mode == config::ForwardedMode::append) {
    for (const Field& field : fields) {
      if (field.id != beast_http::field::unknown || field.value.empty() ||
          !iequals(field.name, "x-forwarded-for"))
        continue;
      out.append(field.value);
      out.append(", ");
    }
  }
  out.append(context.client_ip);
  out.append("\r\nX-Forwarded-Proto: ");
  out.append(context.proto);
  out.append("\r\n");
  if (!host.empty()) append_field(out, "X-Forwarded-Host", host);
  out.append("Via: ");
  if (has_via) {
    for (const Field& field : fields) {
      if (field.id != beast_http::field::via || field.value.empty()) continue;
      out.append(field.value);
      out.append(", ");
    }
  }
  out.append("1.1 keel\r\n\r\n");
}

void write_client_response_head(std::string& out, const ResponseParser& response,
                                const ResponseFraming& framing, int client_version) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(response.status()));
  out.push_back(' ');
  if (!response.reason().empty())
    out.append(response.reason());
  else
    out.append(beast_http::obsolete_reason(beast_http::int_to_status(static_cast<unsigned>(response.status()))));
  out.append("\r\n");

  const auto& fields = response.fields();
  const bool connection = has_connection_field(fields);
  for (const Field& field : fields) {
    if (field.id == beast_http::field::content_length) {
      if (framing.pass_content_length) append_field(out, field.name, field.value);
      continue;
    }
    if (!is_forwardable(fields, field, connection)) continue;
    append_field(out, field.name, field.value);
  }
  if (framing.interim) {
    out.append("\r\n");
    return;
  }
  if (framing.websocket) {
    out.append("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    return;
  }
  append_framing(out, framing.framing, framing.content_length);
  if (!framing.keep_alive)
    out.append("Connection: close\r\n");
  else if (client_version < 11)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
}

}  // namespace keel::http
