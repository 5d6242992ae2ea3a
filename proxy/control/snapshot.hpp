#pragma once

#include "health/health_state.hpp"
#include "proxy/config/config.hpp"
#include "proxy/http/router.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

  // Unknown counts as usable: without active checks nothing ever marks it healthy.
  bool is_eligible() const { return !draining && health != health::Health::unhealthy; }
};

struct PoolSnapshot {
  std::string name;
  config::Balance balance = config::Balance::round_robin;
  std::uint32_t retries = 2;
  std::vector<BackendSnapshot> backends;
};

struct RoutingSnapshot {
  std::uint64_t version = 0;
  std::vector<PoolSnapshot> pools;
  http::Router router;
  config::Timeouts timeouts;
  config::Limits limits;
  config::ForwardedMode forwarded_mode = config::ForwardedMode::append;
};

// Hands out backend ids; ids are never reused, so a removed and re-added
// backend starts with fresh per-worker state.
class BackendIds {
 public:
  std::uint64_t next() { return ++last_; }

 private:
  std::uint64_t last_ = 0;
};

std::shared_ptr<const RoutingSnapshot> build_snapshot(const config::Config& config,
                                                      std::uint64_t version, BackendIds& ids);

}  // namespace keel::control
