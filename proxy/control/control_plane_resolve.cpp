// The control plane's side of re-resolving backend host names (a pool's
// `resolve`): which names to look up, and what an answer changes. A new address
// reaches the workers like any other change, in the next snapshot.
#include "proxy/control/control_plane.hpp"

#include "proxy/http/address_text.hpp"
#include "proxy/log/log.hpp"

#include <algorithm>

namespace keel::control {
namespace {

using tcp = boost::asio::ip::tcp;

// The host and port of `address` when its host is a name, not an IP literal.
std::optional<config::HostPort> host_name(const std::string& address) {
  auto split = config::split_host_port(address);
  if (!split) return std::nullopt;
  boost::system::error_code ec;
  boost::asio::ip::make_address(split->host, ec);
  if (!ec) return std::nullopt;
  return split;
}

// Where a backend goes next: where it is, while the name still has that
// address (DNS round-robin reorders answers; following the order would move
// the backend, and drop its idle connections, at every round); else the first
// IPv4 address, else the first IPv6 one, as at load time.
tcp::endpoint next_endpoint(const tcp::endpoint& current, const std::vector<tcp::endpoint>& endpoints) {
  for (const auto& endpoint : endpoints)
    if (config::same_endpoint(endpoint, current)) return current;
  const auto v4 = std::find_if(endpoints.begin(), endpoints.end(), [](const tcp::endpoint& e) {
    return e.address().is_v4();
  });
  return v4 != endpoints.end() ? *v4 : endpoints.front();
}

}  // namespace

void ControlPlane::update_resolver() {
  std::map<std::string, std::chrono::milliseconds> intervals;
  for (const auto& pool : pools_)
    if (pool.settings.resolve) intervals.emplace(pool.settings.name, *pool.settings.resolve);
  resolver_.set_pools(intervals);
}

std::vector<BackendResolver::Name> ControlPlane::names_to_resolve(const std::string& pool_name) const {
  std::vector<BackendResolver::Name> names;
  const PoolRecord* pool = find_pool(pool_name);
  if (!pool || !pool->settings.resolve) return names;
  for (const auto& backend : pool->backends) {
    if (backend.removing) continue;
    if (auto name = host_name(backend.address))
      names.push_back({.backend_id = backend.id, .host = std::move(name->host), .port = name->port});
  }
  return names;
}

void ControlPlane::on_resolved(const BackendResolver::Name& name, const boost::system::error_code& ec,
                               const std::vector<tcp::endpoint>& endpoints) {
  PoolRecord* pool = nullptr;
  BackendRecord* backend = nullptr;
  for (auto& candidate_pool : pools_)
    for (auto& candidate : candidate_pool.backends)
      if (candidate.id == name.backend_id && !candidate.removing) {
        pool = &candidate_pool;
        backend = &candidate;
      }
  // Gone, or re-added under another spelling, while the lookup ran.
  if (!backend) return;
  const auto current_name = host_name(backend->address);
  if (!current_name || current_name->host != name.host || current_name->port != name.port) return;

  const std::string which = "pool " + pool->settings.name + ": backend " + backend->address;
  if (log::enabled(log::Level::debug)) {
    std::string answer;
    for (const auto& endpoint : endpoints) answer += (answer.empty() ? "" : ", ") + http::endpoint_text(endpoint);
    log::debug(which + ": '" + name.host + "' resolves to " + (ec ? ec.message() : answer.empty() ? "nothing" : answer));
  }
  // A problem is warned about once, until it changes or ends: a name that stays
  // unresolvable would otherwise flood the log at every round.
  const auto warn_once = [&](const std::string& problem, const std::string& message) {
    auto& last = resolve_warned_[backend->id];
    if (last != problem) log::warn(message);
    last = problem;
  };
  if (ec || endpoints.empty()) {
    warn_once("failed", which + ": cannot resolve '" + name.host + "' (" + (ec ? ec.message() : "no address") +
                            "); keeping " + http::endpoint_text(backend->endpoint));
    return;
  }
  const tcp::endpoint next = next_endpoint(backend->endpoint, endpoints);
  // One backend, one entry: an address another backend of the pool has is not taken.
  for (const auto& other : pool->backends) {
    if (&other == backend || other.removing || !config::same_endpoint(other.endpoint, next)) continue;
    warn_once("taken " + http::endpoint_text(next),
              which + ": '" + name.host + "' now resolves to " + http::endpoint_text(next) +
                  ", the address of backend " + other.address + "; keeping " + http::endpoint_text(backend->endpoint));
    return;
  }
  if (resolve_warned_.erase(backend->id))
    log::info(which + ": lookups of '" + name.host + "' are back to normal");
  if (next == backend->endpoint) return;
  log::info(which + " now resolves to " + http::endpoint_text(next) + " (was " +
            http::endpoint_text(backend->endpoint) + ")");
  backend->endpoint = next;
  update_health_targets();
  publish();
}

}  // namespace keel::control
