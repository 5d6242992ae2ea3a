#include "proxy/http/router.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <cctype>

namespace keel::http {
namespace {

// The path of an absolute-form target ("http://h/x?q" → "/x?q"), which prefixes
// are matched against like an origin-form one; other targets as they are.
std::string_view path_of(std::string_view target) {
  if (target.empty() || target.front() == '/') return target;
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return target;
  const auto path = target.find_first_of("/?", scheme_end + 3);
  if (path == std::string_view::npos || target[path] == '?') return "/";
  return target.substr(path);
}

}  // namespace

std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

Router::Router(const std::vector<config::Route>& routes) {
  entries_.reserve(routes.size());
  for (const auto& route : routes) {
    std::string host = std::string(strip_port(route.host));
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    entries_.push_back({std::move(host), route.path_prefix, route.pool_index});
  }
}

std::size_t Router::route(std::string_view host, std::string_view target) const {
  const std::string_view bare_host = strip_port(host);
  const std::string_view path = path_of(target);
  const Entry* best = nullptr;
  for (const Entry& entry : entries_) {
    if (!entry.host.empty() && !boost::beast::iequals(entry.host, bare_host)) continue;
    if (!path.starts_with(entry.path_prefix)) continue;
    if (best == nullptr || entry.path_prefix.size() > best->path_prefix.size() ||
        (entry.path_prefix.size() == best->path_prefix.size() && best->host.empty() &&
         !entry.host.empty()))
      best = &entry;
  }
  return best ? best->pool_index : 0;
}

}  // namespace keel::http
