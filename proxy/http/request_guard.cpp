#include "proxy/http/request_guard.hpp"

#include "proxy/http/router.hpp"

#include <boost/beast/core/string.hpp>

#include <cctype>

namespace keel::http {
namespace {

// "http://h:80/x?q" → "h:80".
std::string_view authority_of(std::string_view absolute_target) {
  const auto rest = absolute_target.substr(absolute_target.find("://") + 3);
  return rest.substr(0, rest.find_first_of("/?"));
}

}  // namespace

std::string_view describe(GuardResult result) {
  switch (result) {
    case GuardResult::ok: return "ok";
    case GuardResult::obs_fold: return "obsolete line folding in header";
    case GuardResult::nul_byte: return "NUL byte in request head";
    case GuardResult::bare_cr: return "bare CR in request head";
    case GuardResult::missing_host: return "missing Host header";
    case GuardResult::multiple_host: return "multiple Host headers";
    case GuardResult::invalid_host: return "invalid Host header";
    case GuardResult::bad_transfer_encoding: return "unsupported Transfer-Encoding";
    case GuardResult::bad_target: return "invalid request target";
    case GuardResult::unsupported_method: return "method not allowed";
  }
  return "bad request";
}

GuardResult scan_raw_head(std::string_view head) {
  bool line_start = false;  // the request line itself may not be checked for folding
  for (std::size_t i = 0; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '\0') return GuardResult::nul_byte;
    if (c == '\r') {
      if (i + 1 >= head.size() || head[i + 1] != '\n') return GuardResult::bare_cr;
      continue;
    }
    if (line_start && (c == ' ' || c == '\t')) return GuardResult::obs_fold;
    line_start = c == '\n';
  }
  return GuardResult::ok;
}

bool is_valid_host(std::string_view host) {
  if (host.empty()) return false;
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : host.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    const auto rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
    name = {};
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (name.empty()) return false;
  }
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
                    c == '_' || c == '~' || c == '%' || c == '!' || c == '$' || c == '&' ||
                    c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
                    c == ';' || c == '=';
    if (!ok) return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

GuardResult check_request_head(const RequestParser& parser, std::string_view& host) {
  if (parser.method() == beast_http::verb::connect) return GuardResult::unsupported_method;

  const std::string_view target = parser.target();
  const bool origin_form = !target.empty() && target.front() == '/';
  const bool absolute_form = boost::beast::iequals(target.substr(0, 7), "http://") ||
                             boost::beast::iequals(target.substr(0, 8), "https://");
  const bool asterisk_form = target == "*" && parser.method() == beast_http::verb::options;
  if (!origin_form && !absolute_form && !asterisk_form) return GuardResult::bad_target;

  int host_count = 0;
  int transfer_encoding_count = 0;
  for (const Field& field : parser.fields()) {
    if (field.id == beast_http::field::host) {
      ++host_count;
      host = field.value;
    } else if (field.id == beast_http::field::transfer_encoding) {
      ++transfer_encoding_count;
      if (!boost::beast::iequals(field.value, "chunked")) return GuardResult::bad_transfer_encoding;
    }
  }
  // HTTP/1.0 has no chunked coding: a 1.0 request with one is a smuggling attempt.
  if (transfer_encoding_count > 1 || (transfer_encoding_count == 1 && parser.version() < 11))
    return GuardResult::bad_transfer_encoding;
  if (host_count > 1) return GuardResult::multiple_host;
  if (host_count == 0) {
    if (parser.version() >= 11) return GuardResult::missing_host;
    // HTTP/1.0 without Host: an absolute-form target's authority is the host, for
    // keel's routing as for the backend (which reads it from the target).
    host = absolute_form ? authority_of(target) : std::string_view();
    if (!host.empty() && !is_valid_host(host)) return GuardResult::invalid_host;
    if (absolute_form && host.empty()) return GuardResult::invalid_host;
    return GuardResult::ok;
  }
  if (!is_valid_host(host)) return GuardResult::invalid_host;
  // An absolute-form target's authority overrides Host (RFC 9112 §3.2.2), but keel
  // routes by Host: refuse a request that would mean one host to keel and another
  // to the backend.
  if (absolute_form &&
      !boost::beast::iequals(strip_port(authority_of(target)), strip_port(host)))
    return GuardResult::invalid_host;
  return GuardResult::ok;
}

}  // namespace keel::http
