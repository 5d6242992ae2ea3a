// The control plane's side of cluster mode: etcd's backend lists applied to
// the pools (the only way they change in cluster mode), what the agent reports
// about this instance, and the state file kept as a local cache.
#include "proxy/control/control_plane.hpp"

#include "proxy/http/address_text.hpp"
#include "proxy/log/log.hpp"

#include <map>
#include <set>

namespace keel::control {

std::string ControlPlane::endpoint_key(const boost::asio::ip::tcp::endpoint& endpoint) const {
  return http::endpoint_text(config::canonical_endpoint(endpoint));
}

// What the state file holds: every backend not being removed (also cluster mode's cache).
PersistedState ControlPlane::serving_state() const {
  PersistedState state;
  for (const auto& pool : pools_) {
    auto& entries = state.pools[pool.settings.name];
    for (const auto& backend : pool.backends)
      if (!backend.removing)
        entries.push_back({.address = backend.address, .weight = backend.weight, .draining = backend.draining});
  }
  return state;
}

// The cache a restart starts from while etcd cannot be reached.
void ControlPlane::write_cache() {
  if (config_.state_file.empty()) return;
  if (auto problem = write_state_file(config_.state_file, serving_state()))
    log::warn("cluster: cannot write the local cache " + config_.state_file + ": " + *problem);
}

void ControlPlane::cluster_applied() { write_cache(); }

std::vector<std::string> ControlPlane::pool_names() const {
  std::vector<std::string> names;
  for (const auto& pool : pools_) names.push_back(pool.settings.name);
  return names;
}

void ControlPlane::apply_pool(const std::string& name, const std::vector<cluster::ClusterView::Backend>& wanted) {
  PoolRecord* pool = find_pool(name);
  if (!pool) return;
  std::vector<BackendRecord> next;
  std::set<std::uint64_t> kept;
  std::vector<std::string> changes;
  const auto now_wall = std::chrono::system_clock::now();
  for (const auto& entry : wanted) {
    std::string problem;
    auto address = config::parse_address(entry.value.address, false, problem);
    if (!address) {
      log::warn("cluster: pool " + name + ": ignoring backend '" + entry.value.address + "' from etcd: " + problem);
      continue;
    }
    const bool removing = entry.value.state == cluster::BackendState::removing;
    // The record it continues: a live one at the same endpoint, else one draining out.
    BackendRecord* found = nullptr;
    for (auto& backend : pool->backends) {
      if (kept.count(backend.id) || !config::same_endpoint(backend.endpoint, address->endpoint)) continue;
      if (!found || (found->removing && !backend.removing)) found = &backend;
    }
    if (!found && removing) continue;  // never served here: nothing to drain
    BackendRecord record = found ? *found : make_backend(*address, entry.value.weight);
    if (!found) changes.push_back(address->text + " added");
    if (found && (record.weight != entry.value.weight || record.address != address->text))
      changes.push_back(address->text + " changed");
    record.address = address->text;
    record.endpoint = address->endpoint;
    record.weight = entry.value.weight;
    const bool draining = entry.value.state == cluster::BackendState::draining;
    if (found && record.draining != draining && !removing)
      changes.push_back(address->text + (draining ? " draining" : " active"));
    record.draining = draining;
    if (removing && !record.removing) {
      start_removing(record);
      // The drain started when it was removed, wherever that was.
      const auto since = now_wall - std::chrono::system_clock::time_point(std::chrono::milliseconds(entry.value.removed_at_ms));
      if (since > std::chrono::milliseconds::zero())
        record.remove_by -= std::min(std::chrono::duration_cast<std::chrono::milliseconds>(since), config_.timeouts.drain);
      changes.push_back(address->text + " draining for removal");
    } else if (!removing && record.removing) {
      record.removing = false;
      changes.push_back(address->text + " back");
    }
    kept.insert(record.id);
    next.push_back(std::move(record));
  }
  for (auto& backend : pool->backends) {
    if (kept.count(backend.id)) continue;
    if (!backend.removing) {
      start_removing(backend);
      changes.push_back(backend.address + " removed");
    }
    next.push_back(backend);
  }
  pool->backends = std::move(next);
  if (changes.empty()) return;
  std::string text;
  for (const auto& change : changes) text += (text.empty() ? "" : ", ") + change;
  log::info("cluster: pool " + name + ": " + text + " (etcd revision " +
            std::to_string(cluster_ ? cluster_->applied_revision() : 0) + ")");
  update_health_targets();
  publish();
}

std::vector<std::pair<std::string, cluster::BackendValue>> ControlPlane::serving(const std::string& name) const {
  std::vector<std::pair<std::string, cluster::BackendValue>> out;
  const PoolRecord* pool = find_pool(name);
  if (!pool) return out;
  for (const auto& backend : pool->backends) {
    if (backend.removing) continue;
    out.emplace_back(endpoint_key(backend.endpoint),
                     cluster::BackendValue{.address = backend.address,
                                           .weight = backend.weight,
                                           .state = backend.draining ? cluster::BackendState::draining
                                                                     : cluster::BackendState::active});
  }
  return out;
}

std::map<std::string, cluster::MemberValue::Load> ControlPlane::load_now() const {
  std::map<std::string, cluster::MemberValue::Load> out;
  for (const auto& load : autoscale_loads())
    out[load.name] = {.concurrency = static_cast<double>(load.in_flight + load.waiting), .waiting = load.waiting};
  return out;
}

std::map<std::string, std::uint64_t> ControlPlane::removing_in_flight() const {
  std::map<std::string, std::uint64_t> out;
  if (!config_.cluster) return out;
  const cluster::KeyLayout layout(config_.cluster->prefix);
  for (const auto& pool : pools_)
    for (const auto& backend : pool.backends)
      if (backend.removing)
        if (const auto active = backend.stats->active_requests(); active > 0)
          out[layout.backend(pool.settings.name, endpoint_key(backend.endpoint))] = active;
  return out;
}

std::optional<admin::ClusterInfo> ControlPlane::cluster() const {
  if (!cluster_) return std::nullopt;
  const auto status = cluster_->status();
  admin::ClusterInfo info{.instance = status.instance,
                          .leader = status.leader,
                          .connected = status.connected,
                          .stale = status.stale,
                          .revision = status.etcd_revision,
                          .applied_revision = status.applied_revision,
                          .endpoint = status.endpoint,
                          .instances = {}};
  for (const auto& member : status.instances)
    info.instances.push_back({.instance = member.instance,
                              .applied_revision = member.applied_revision,
                              .started = member.started});
  return info;
}

}  // namespace keel::control
