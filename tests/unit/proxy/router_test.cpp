#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/router.hpp"

namespace keel::http {
namespace {

config::Route route(std::string host, std::string path_prefix, std::size_t pool_index) {
  return {.host = std::move(host), .path_prefix = std::move(path_prefix),
          .pool = "pool" + std::to_string(pool_index), .pool_index = pool_index};
}

struct Lookup {
  std::string_view host;
  std::string_view target;
  std::size_t pool;
};

void expect_routes(const Router& router, const std::vector<Lookup>& lookups) {
  for (const Lookup& l : lookups)
    EXPECT_EQ(router.route(l.host, l.target), l.pool) << l.host << " " << l.target;
}

TEST(Router, WithoutRoutesEverythingGoesToTheFirstPool) {
  const Router router({});
  expect_routes(router, {{"a.test", "/", 0}, {"", "/x", 0}, {"b.test:80", "*", 0}});
}

TEST(Router, NoMatchGoesToTheFirstPoolNotTheFirstRoute) {
  const Router router({route("", "/v1", 2), route("api.test", "/", 3)});
  expect_routes(router, {{"web.test", "/v2", 0}, {"web.test", "/", 0}, {"", "/v", 0}});
}

TEST(Router, LongestPrefixWinsWhateverTheOrder) {
  const std::vector<config::Route> routes = {route("", "/", 1), route("", "/api", 2), route("", "/api/v2", 3)};
  const std::vector<Lookup> lookups = {
      {"h", "/", 1},        {"h", "/index.html", 1}, {"h", "/api", 2},   {"h", "/api/v1/x", 2},
      {"h", "/api/v2", 3},  {"h", "/api/v2/x", 3},   {"h", "/ap", 1},    {"h", "/apiary", 2},
  };
  expect_routes(Router(routes), lookups);
  expect_routes(Router({routes[2], routes[1], routes[0]}), lookups);
  expect_routes(Router({routes[1], routes[2], routes[0]}), lookups);
}

TEST(Router, HostMatchIsCaseInsensitiveAndIgnoresPorts) {
  const Router router({route("API.Example.com", "", 1), route("shop.test:8443", "", 2), route("[::1]:9", "", 3)});
  expect_routes(router, {
      {"api.example.com", "/", 1},
      {"api.example.COM:8080", "/x", 1},
      {"Api.Example.Com:443", "/", 1},
      {"shop.test", "/", 2},
      {"SHOP.test:80", "/", 2},
      {"[::1]", "/", 3},
      {"[::1]:8080", "/", 3},
      {"api.example.com.evil", "/", 0},
      {"example.com", "/", 0},
      {"[::2]", "/", 0},
  });
}

TEST(Router, HostSpecificBeatsHostAgnosticOnEqualPrefix) {
  const auto agnostic = route("", "/v1", 1);
  const auto specific = route("api.test", "/v1", 2);
  for (const auto& routes : {std::vector{agnostic, specific}, std::vector{specific, agnostic}}) {
    expect_routes(Router(routes), {{"api.test", "/v1/x", 2}, {"web.test", "/v1/x", 1}, {"", "/v1", 1}});
  }
}

TEST(Router, LongerPrefixBeatsHostSpecificity) {
  const Router router({route("api.test", "/", 1), route("", "/static", 2)});
  expect_routes(router, {{"api.test", "/static/a.css", 2}, {"api.test", "/x", 1}, {"web.test", "/x", 0}});
}

TEST(Router, FirstWrittenWinsAFullTie) {
  expect_routes(Router({route("", "/a", 1), route("", "/a", 2)}), {{"h", "/a", 1}});
  expect_routes(Router({route("h", "/a", 1), route("H:80", "/a", 2)}), {{"h", "/a", 1}});
}

TEST(Router, EmptyPrefixMatchesEveryTarget) {
  const Router router({route("", "", 4)});
  expect_routes(router, {{"h", "/", 4}, {"h", "*", 4}, {"", "/x?y", 4}});
}

TEST(Router, EmptyHostOnlyMatchesHostAgnosticRoutes) {
  const Router router({route("api.test", "/", 1), route("", "/x", 2)});
  expect_routes(router, {{"", "/", 0}, {"", "/x", 2}});
}

TEST(Router, AbsoluteFormTargetsAreRoutedByTheirPath) {
  const Router router({route("", "/v1", 1), route("api.test", "/v2", 2), route("", "/", 3)});
  expect_routes(router, {
      {"h", "http://h/v1/x", 1},
      {"api.test", "https://api.test:8443/v2", 2},
      {"h", "HTTP://h/other", 3},
      {"h", "http://h", 3},
      {"h", "http://h?v1", 3},
      {"h", "http://h/v1?q=/v2", 1},
  });
}

TEST(StripPort, Table) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"Shop.Example:8080", "Shop.Example"}, {"shop.example", "shop.example"}, {"[::1]:80", "[::1]"},
      {"[::1]", "[::1]"},                    {"[::1", "[::1"},                 {"a:", "a"},
      {"", ""},                              {":80", ""},                      {"127.0.0.1:9", "127.0.0.1"},
  };
  for (const auto& [host, bare] : cases) EXPECT_EQ(strip_port(host), bare) << host;
}

}  // namespace
}  // namespace keel::http
