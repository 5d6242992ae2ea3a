// The admin API behind its HTTP framing: AdminRoutes (bearer check, path
// decoding, routing), the JSON codec, and the real ControlPlane answering the
// changes (address checks, duplicates, weights, drain and removal). Each input
// is a fresh ControlPlane on a Server with one worker and no listener, whose
// threads never start (snapshots are posted and never run), and a sequence of
// requests separated by a line "~~~":
//     METHOD TARGET[ AUTHORIZATION...]\n
//     BODY
// The admin token is "t0k3n". Host names resolve through fake_resolver.cpp.
// Checks, besides the sanitizers: every answer is a known status with a JSON
// object body ({"error": "..."} for 4xx/5xx), and after every request the
// pools the API lists hold no address twice.
#include "proxy/admin/admin_routes.hpp"
#include "proxy/config/config.hpp"
#include "proxy/control/control_plane.hpp"
#include "proxy/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include "tests/fuzz/check.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>


namespace {

using namespace keel;

constexpr std::string_view kConfig = R"(
workers: 1
listeners:
  - address: 127.0.0.1:0
pools:
  - name: web
    backends:
      - { address: 127.0.0.1:8081, weight: 2 }
      - { address: "[::1]:8082" }
  - name: api
    balance: least_conn
    backends:
      - { address: localhost:9000 }
    autoscale:
      target_concurrency: 4
      min_backends: 0
      max_backends: 6
)";
constexpr std::size_t kMaxRequests = 16;

const config::Config& base_config() {
  static const config::Config config = [] {
    auto loaded = config::parse_config(kConfig, "fuzz-admin.yaml");
    if (!loaded.config) {
      for (const auto& error : loaded.errors) std::fprintf(stderr, "%s\n", error.to_string().c_str());
      std::abort();
    }
    config::Config result = std::move(*loaded.config);
    result.listeners.clear();  // nothing to bind: only the control plane is under test
    return result;
  }();
  return config;
}

const admin::AdminRoutes& routes() {
  static const admin::AdminRoutes instance("t0k3n");
  return instance;
}

bool known_status(int status) {
  switch (status) {
    case 200: case 201: case 202: case 400: case 401: case 404: case 405: case 409: case 500:
      return true;
    default:
      return false;
  }
}

void check_answer(const admin::AdminResponse& response) {
  KEEL_FUZZ_CHECK(known_status(response.status));
  if (response.text) return;  // /metrics
  KEEL_FUZZ_CHECK(response.body.is_object());
  if (response.status >= 400) {
    const auto* error = response.body.as_object().if_contains("error");
    KEEL_FUZZ_CHECK(error != nullptr && error->is_string() && !error->as_string().empty());
  }
  (void)boost::json::serialize(response.body);
}

void check_pools(const control::ControlPlane& plane) {
  for (const admin::PoolInfo& pool : plane.pools()) {
    std::set<std::string> seen;
    for (const admin::BackendInfo& backend : pool.backends) {
      KEEL_FUZZ_CHECK(seen.insert(backend.address).second);
      KEEL_FUZZ_CHECK(backend.weight >= 1 && backend.weight <= 1000);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  boost::asio::io_context io;
  Server server(base_config());
  control::ControlPlane plane(io, base_config(), server);

  for (std::size_t n = 0; n < kMaxRequests && !input.empty(); ++n) {
    const auto separator = input.find("\n~~~\n");
    std::string_view text = input.substr(0, separator);
    input = separator == std::string_view::npos ? std::string_view{} : input.substr(separator + 5);

    const auto line_end = text.find('\n');
    const std::string_view line = text.substr(0, line_end);
    admin::AdminRequest request;
    request.body = line_end == std::string_view::npos ? std::string_view{} : text.substr(line_end + 1);
    const auto space = line.find(' ');
    request.method = line.substr(0, space);
    if (space != std::string_view::npos) {
      const std::string_view rest = line.substr(space + 1);
      const auto second = rest.find(' ');
      request.target = rest.substr(0, second);
      if (second != std::string_view::npos) request.authorization = rest.substr(second + 1);
    }
    check_answer(routes().handle(request, plane));
    check_pools(plane);
  }
  return 0;
}
