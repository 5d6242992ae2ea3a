#include "proxy/http2/request_head.hpp"

#include <array>

namespace keel::http2 {
namespace {

constexpr std::string_view kCookieSeparator = "; ";

// RFC 9110 §5.6.2 tchar, upper case excluded (RFC 9113 §8.2.1).
bool is_lower_token(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_clean_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_connection_specific(std::string_view name) {
  constexpr std::array<std::string_view, 5> kNames = {"connection", "keep-alive", "proxy-connection",
                                                      "transfer-encoding", "upgrade"};
  for (const auto known : kNames)
    if (name == known) return true;
  return false;
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Origin-form (starts with "/"), or "*" for OPTIONS; no byte a request line
// cannot carry (the HTTP/1.1 parser would refuse it later anyway, with a less
// precise reason).
bool is_valid_path(std::string_view path, std::string_view method) {
  if (path == "*") return method == "OPTIONS";
  if (path.empty() || path.front() != '/') return false;
  for (const char c : path)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  return true;
}

struct Pseudo {
  std::string_view method, scheme, authority, path, protocol;
  bool has_method = false, has_scheme = false, has_authority = false, has_path = false, has_protocol = false;
};

// Records one pseudo-header; false for an unknown or repeated one.
bool take_pseudo(Pseudo& pseudo, const Header& header) {
  auto take = [&](std::string_view& slot, bool& seen) {
    if (seen) return false;
    seen = true;
    slot = header.value;
    return true;
  };
  if (header.name == ":method") return take(pseudo.method, pseudo.has_method);
  if (header.name == ":scheme") return take(pseudo.scheme, pseudo.has_scheme);
  if (header.name == ":authority") return take(pseudo.authority, pseudo.has_authority);
  if (header.name == ":path") return take(pseudo.path, pseudo.has_path);
  if (header.name == ":protocol") return take(pseudo.protocol, pseudo.has_protocol);
  return false;
}

}  // namespace

const char* describe(RequestHeadError error) {
  switch (error) {
    case RequestHeadError::none: return "ok";
    case RequestHeadError::missing_pseudo_header: return "missing :method, :scheme or :path";
    case RequestHeadError::bad_pseudo_header: return "invalid pseudo-header";
    case RequestHeadError::missing_authority: return "missing :authority and host";
    case RequestHeadError::conflicting_host: return "host differs from :authority";
    case RequestHeadError::connection_specific: return "connection-specific header";
    case RequestHeadError::bad_te: return "te other than trailers";
    case RequestHeadError::bad_name: return "invalid header name";
    case RequestHeadError::bad_value: return "invalid header value";
    case RequestHeadError::bad_path: return "invalid :path";
    case RequestHeadError::unsupported_method: return "CONNECT is not supported";
    case RequestHeadError::too_large: return "request header fields too large";
  }
  return "invalid request";
}

RequestHeadError write_request_head(std::string& out, std::span<const Header> headers, bool has_body,
                                    std::size_t max_bytes) {
  // First pass: validate, and find what the request line and Host need.
  Pseudo pseudo;
  bool regular_seen = false;
  bool has_content_length = false;
  std::string_view host;
  bool has_host = false;
  std::size_t cookie_bytes = 0;  // the joined value, separators included
  bool has_cookie = false;
  for (const Header& header : headers) {
    if (!is_clean_value(header.value)) return RequestHeadError::bad_value;
    if (!header.name.empty() && header.name.front() == ':') {
      if (regular_seen || !take_pseudo(pseudo, header)) return RequestHeadError::bad_pseudo_header;
      continue;
    }
    regular_seen = true;
    if (!is_lower_token(header.name)) return RequestHeadError::bad_name;
    if (is_connection_specific(header.name)) return RequestHeadError::connection_specific;
    if (header.name == "te") {
      if (header.value != "trailers") return RequestHeadError::bad_te;
    } else if (header.name == "host") {
      if (has_host) return RequestHeadError::bad_value;  // two Host lines are ambiguous in HTTP/1.1 too
      has_host = true;
      host = header.value;
    } else if (header.name == "cookie") {
      cookie_bytes += (has_cookie ? kCookieSeparator.size() : 0) + header.value.size();
      has_cookie = true;
    } else if (header.name == "content-length") {
      has_content_length = true;
    }
  }
  if (pseudo.has_method && pseudo.method == "CONNECT") return RequestHeadError::unsupported_method;
  if (pseudo.has_protocol) return RequestHeadError::bad_pseudo_header;  // only with CONNECT
  if (!pseudo.has_method || !pseudo.has_scheme || !pseudo.has_path)
    return RequestHeadError::missing_pseudo_header;
  if (!is_token(pseudo.method) || pseudo.scheme.empty()) return RequestHeadError::bad_pseudo_header;
  if (!is_valid_path(pseudo.path, pseudo.method)) return RequestHeadError::bad_path;
  if (pseudo.has_authority && pseudo.authority.empty()) return RequestHeadError::bad_pseudo_header;
  if (pseudo.has_authority && has_host && host != pseudo.authority) return RequestHeadError::conflicting_host;
  const std::string_view authority = pseudo.has_authority ? pseudo.authority : host;
  if (authority.empty()) return RequestHeadError::missing_authority;
  const bool chunked = has_body && !has_content_length;

  // Second pass: the head's exact size, so that the limit is checked before a
  // byte is written and `out` grows once.
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  constexpr std::string_view kChunked = "Transfer-Encoding: chunked\r\n";
  std::size_t size = pseudo.method.size() + 1 + pseudo.path.size() + kVersion.size();
  size += 6 + authority.size() + 2;  // "Host: " ... CRLF
  for (const Header& header : headers) {
    if (header.name.front() == ':' || header.name == "host" || header.name == "cookie" || header.name == "te")
      continue;
    size += header.name.size() + 2 + header.value.size() + 2;
  }
  if (has_cookie) size += 8 + cookie_bytes + 2;  // "Cookie: " ... CRLF
  if (chunked) size += kChunked.size();
  size += 2;
  if (size > max_bytes) return RequestHeadError::too_large;

  out.reserve(out.size() + size);
  out.append(pseudo.method).append(" ").append(pseudo.path).append(kVersion);
  out.append("Host: ").append(authority).append("\r\n");
  for (const Header& header : headers) {
    if (header.name.front() == ':' || header.name == "host" || header.name == "cookie" || header.name == "te")
      continue;
    out.append(header.name).append(": ").append(header.value).append("\r\n");
  }
  if (has_cookie) {
    out.append("Cookie: ");
    bool first = true;
    for (const Header& header : headers) {
      if (header.name != "cookie") continue;
      if (!first) out.append(kCookieSeparator);
      out.append(header.value);
      first = false;
    }
    out.append("\r\n");
  }
  if (chunked) out.append(kChunked);
  out.append("\r\n");
  return RequestHeadError::none;
}

}  // namespace keel::http2
