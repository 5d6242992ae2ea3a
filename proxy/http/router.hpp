#pragma once

#include "proxy/config/config.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace keel::http {

// (Host, path) → pool index. Among the routes that match, the longest
// path_prefix wins, then a route naming a host over one that does not, then
// the first written. No match (or no routes): the first pool. An absolute-form
// target ("http://h/x") is matched by its path.
class Router {
 public:
  explicit Router(const std::vector<config::Route>& routes);

  std::size_t route(std::string_view host, std::string_view target) const;

 private:
  struct Entry {
    std::string host;  // lower case, no port; empty matches any
    std::string path_prefix;
    std::size_t pool_index;
  };
  std::vector<Entry> entries_;
};

// "Shop.Example:8080" → "Shop.Example"; "[::1]:80" → "[::1]".
std::string_view strip_port(std::string_view host);

}  // namespace keel::http
