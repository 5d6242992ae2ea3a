#pragma once

#include "health/health_state.hpp"
#include "proxy/control/backend_stats.hpp"
#include "proxy/control/wait_stats.hpp"
#include "proxy/config/config.hpp"
#include "proxy/http/router.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::tls {
class UpstreamContext;
}

namespace keel::control {

// Immutable views of the pools, built by the control thread and shared
// read-only with every worker. One object, so a worker sees membership,
// weights and health change together.
struct BackendSnapshot {
  std::uint64_t id = 0;  // stable across snapshots; workers carry per-backend state by it
  std::string address;   // as configured: the backend's name in logs, metrics and the API
  boost::asio::ip::tcp::endpoint endpoint;
  std::uint32_t weight = 1;
  bool draining = false;
  health::Health health = health::Health::unknown;
  // Whether an unknown health (no check result yet) may take traffic: true
  // without active checks, and for backends keel started with; a backend added
  // later to a checked pool waits for its first passing check.
  bool usable_while_unknown = true;
  std::shared_ptr<BackendStats> stats;

  bool is_eligible() const {
    if (draining) return false;
    return health == health::Health::healthy ||
           (health == health::Health::unknown && usable_while_unknown);
  }
};

struct PoolSnapshot {
  std::string name;
  config::Balance balance = config::Balance::round_robin;
  std::uint32_t retries = 2;
  std::optional<config::Passive> passive;
  std::vector<BackendSnapshot> backends;
  std::shared_ptr<metrics::PoolStats> stats;  // this pool's per-worker counters
  // Scale from zero (autoscale.min_backends 0): with no backend, requests wait
  // for one instead of getting 503.
  bool holds_when_empty = false;
  std::shared_ptr<PoolWaitStats> wait_stats;  // never null in a published snapshot
  std::shared_ptr<const tls::UpstreamContext> tls;  // null: plain HTTP to the backends
};

struct RoutingSnapshot {
  std::uint64_t version = 0;
  std::vector<PoolSnapshot> pools;
  http::Router router;
  config::Timeouts timeouts;
  config::Limits limits;
  config::ForwardedMode forwarded_mode = config::ForwardedMode::append;
};

}  // namespace keel::control
