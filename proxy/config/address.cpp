// Addresses in the config file: "host:port" and "[v6]:port", resolved to an
// endpoint at load time.
#include "proxy/config/config.hpp"

#include <boost/asio/ip/address.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <memory>
#include <system_error>

namespace keel::config {
namespace {

namespace ip = boost::asio::ip;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `lowest` is 0 where port 0 (any free port) is allowed, else 1; both ends of
// the range are named in one message, so ":0" and ":65536" read alike.
std::optional<std::uint16_t> parse_port(std::string_view text, std::uint16_t lowest, std::string& problem) {
  if (text.empty()) {
    problem = "missing port";
    return std::nullopt;
  }
  for (const char c : text) {
    if (!is_digit(c)) {
      problem = "the port must be a number";
      return std::nullopt;
    }
  }
  std::uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port > 65'535 || port < lowest) {
    problem = "the port must be from " + std::to_string(lowest) + " to 65535";
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

// What to write instead of "scheme://rest": rest's host:port ("http://10.0.0.1:80/x"
// gives 10.0.0.1:80; "http://app" gives app:80, the port the scheme implies),
// and for https where TLS is set instead. "host:port" when rest has no host.
std::string without_scheme(std::string_view scheme, std::string_view rest) {
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  const bool clean = !rest.empty() && rest.find_first_of(" \t\\\"'") == std::string_view::npos;
  std::string suggestion = clean ? std::string(rest) : std::string("host:port");
  const bool has_port = clean && (rest.front() == '[' ? rest.find("]:") != std::string_view::npos
                                                     : rest.find(':') != std::string_view::npos);
  const bool https = scheme == "https" || scheme == "HTTPS";
  if (clean && !has_port && (https || scheme == "http" || scheme == "HTTP")) suggestion += https ? ":443" : ":80";
  if (https) suggestion += " (HTTPS is set with 'tls', not in the address)";
  return suggestion;
}

// What a host:port must not contain, checked before the colons are counted: a
// header injected after the port ("127.0.0.1:80\r\nX: y") or a URL would
// otherwise be reported as an IPv6 address without brackets.
std::optional<std::string> foreign_text(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      constexpr char kHex[] = "0123456789ABCDEF";
      return std::string("the address contains a control character (byte 0x") + kHex[byte >> 4] +
             kHex[byte & 0x0F] + ")";
    }
  }
  if (const auto scheme = text.find("://"); scheme != std::string_view::npos)
    return "a scheme (" + std::string(text.substr(0, scheme + 3)) + ") is not allowed here; write " +
           without_scheme(text.substr(0, scheme), text.substr(scheme + 3));
  if (const auto at = text.find_first_of("/?#@"); at != std::string_view::npos)
    return "the address contains '" + std::string(1, text[at]) + "'; write host:port";
  return std::nullopt;
}

// An unbracketed host with a colon: an IPv6 literal only if it looks like one.
bool looks_like_ipv6(std::string_view host) {
  return host.find_first_not_of("0123456789abcdefABCDEF:.%") == std::string_view::npos;
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (host.back() == '.') host.remove_suffix(1);  // fully qualified
  std::size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63 || (label == 1 && c == '-')) return false;
  }
  return label > 0;
}

// Synchronous, once per address at load time; prefers IPv4 like most clients.
std::optional<ip::tcp::endpoint> resolve(const std::string& host, std::uint16_t port, std::string& problem) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int status = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (status != 0) {
    problem = status == EAI_SYSTEM ? std::generic_category().message(errno) : ::gai_strerror(status);
    return std::nullopt;
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, &::freeaddrinfo);
  const addrinfo* chosen = nullptr;
  for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
    if (info->ai_family != AF_INET && info->ai_family != AF_INET6) continue;
    if (chosen == nullptr || (info->ai_family == AF_INET && chosen->ai_family != AF_INET)) chosen = info;
  }
  if (chosen == nullptr) {
    problem = "no IPv4 or IPv6 address";
    return std::nullopt;
  }
  if (chosen->ai_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(chosen->ai_addr);
    return ip::tcp::endpoint(ip::address_v4(ntohl(v4->sin_addr.s_addr)), port);
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(chosen->ai_addr);
  ip::address_v6::bytes_type bytes;
  std::copy(std::begin(v6->sin6_addr.s6_addr), std::end(v6->sin6_addr.s6_addr), bytes.begin());
  return ip::tcp::endpoint(ip::address_v6(bytes, v6->sin6_scope_id), port);
}

}  // namespace

std::optional<HostPort> split_host_port(std::string_view text, std::string& problem, bool allow_port_zero) {
  if (text.empty()) {
    problem = "the address is empty";
    return std::nullopt;
  }
  if (auto foreign = foreign_text(text)) {
    problem = std::move(*foreign);
    return std::nullopt;
  }
  HostPort result;
  std::string_view port;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      problem = "missing ']'";
      return std::nullopt;
    }
    const std::string_view host = text.substr(1, close - 1);
    if (host.empty()) {
      problem = "the host is empty";
      return std::nullopt;
    }
    if (host.find_first_of("[]") != std::string_view::npos) {
      problem = "unbalanced brackets";
      return std::nullopt;
    }
    // Brackets exist to protect the colons of an IPv6 address; keeping that
    // invariant lets the loader tell IPv6 literals from names by a colon.
    if (host.find(':') == std::string_view::npos) {
      problem = "brackets are only for IPv6 addresses";
      return std::nullopt;
    }
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      problem = "missing port";
      return std::nullopt;
    }
    if (rest.front() != ':') {
      problem = "expected ':' and a port after ']'";
      return std::nullopt;
    }
    result.host = std::string(host);
    port = rest.substr(1);
  } else {
    if (text.find_first_of("[]") != std::string_view::npos) {
      problem = "unbalanced brackets";
      return std::nullopt;
    }
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      problem = "missing port (expected host:port)";
      return std::nullopt;
    }
    if (const auto last = text.rfind(':'); last != colon) {
      problem = looks_like_ipv6(text.substr(0, last)) ? "an IPv6 address needs brackets, as in [::1]:8080"
                                                       : "more than one ':' (expected host:port)";
      return std::nullopt;
    }
    if (colon == 0) {
      problem = "the host is empty";
      return std::nullopt;
    }
    result.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  const auto number = parse_port(port, allow_port_zero ? 0 : 1, problem);
  if (!number) return std::nullopt;
  result.port = *number;
  return result;
}

std::optional<HostPort> split_host_port(std::string_view text) {
  std::string ignored;
  return split_host_port(text, ignored);
}

ip::tcp::endpoint canonical_endpoint(const ip::tcp::endpoint& endpoint) {
  const ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return {ip::make_address_v4(ip::v4_mapped, address.to_v6()), endpoint.port()};
  return endpoint;
}

bool same_endpoint(const ip::tcp::endpoint& a, const ip::tcp::endpoint& b) {
  return canonical_endpoint(a) == canonical_endpoint(b);
}

std::optional<Address> parse_address(std::string_view text, bool allow_port_zero, std::string& problem) {
  const auto split = split_host_port(text, problem, allow_port_zero);
  if (!split) return std::nullopt;
  const std::string& host = split->host;
  boost::system::error_code ec;
  if (host.find(':') != std::string::npos) {
    const auto v6 = ip::make_address_v6(host, ec);
    if (ec) {
      problem = "'" + host + "' is not an IPv6 address";
      return std::nullopt;
    }
    return Address{std::string(text), ip::tcp::endpoint(v6, split->port)};
  }
  if (const auto v4 = ip::make_address_v4(host, ec); !ec)
    return Address{std::string(text), ip::tcp::endpoint(v4, split->port)};
  // getaddrinfo would take "10.1" for 10.0.0.1: a dotted number must be a
  // complete IPv4 address.
  if (host.find_first_not_of("0123456789.") == std::string::npos) {
    problem = "'" + host + "' is not an IPv4 address";
    return std::nullopt;
  }
  if (!is_host_name(host)) {
    problem = "'" + host + "' is not a valid host name";
    return std::nullopt;
  }
  std::string why;
  const auto endpoint = resolve(host, split->port, why);
  if (!endpoint) {
    problem = "cannot resolve '" + host + "': " + why;
    return std::nullopt;
  }
  return Address{std::string(text), *endpoint};
}

}  // namespace keel::config
