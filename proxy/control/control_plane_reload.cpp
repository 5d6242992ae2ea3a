// Reloading the config (SIGHUP). Everything that can fail is prepared first (the
// state file, TLS contexts, pools, new listeners), so a rejected config changes
// nothing; only then are listeners, pools and settings switched.
#include "proxy/control/control_plane.hpp"

#include "proxy/log/log.hpp"
#include "proxy/server.hpp"
#include "proxy/tls/server_context.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace keel::control {
namespace {

using tcp = boost::asio::ip::tcp;

bool admin_differs(const std::optional<config::AdminConfig>& a, const std::optional<config::AdminConfig>& b) {
  if (a.has_value() != b.has_value()) return true;
  return a && (a->address.text != b->address.text || a->token != b->token);
}

bool access_log_differs(const std::optional<config::AccessLog>& a, const std::optional<config::AccessLog>& b) {
  if (a.has_value() != b.has_value()) return true;
  return a && (a->path != b->path || a->format != b->format);
}

}  // namespace

struct ControlPlane::ReloadPlan {
  config::Config next;
  std::vector<PoolRecord> pools;
  // Kept listeners' certificates, read again: a renewed certificate is the
  // usual reason for a SIGHUP.
  std::vector<std::pair<tcp::endpoint, std::shared_ptr<const tls::ServerContext>>> kept_tls;
  std::map<std::string, tcp::endpoint> opened;  // new listeners, by address as written
};

std::vector<std::string> ControlPlane::reload(const std::string& path) {
  auto loaded = config::load_config_file(path);
  for (const auto& warning : loaded.warnings) log::warn("reload: " + warning.to_string());
  std::vector<std::string> problems;
  for (const auto& error : loaded.errors) problems.push_back(error.to_string());
  if (loaded.config) {
    ReloadPlan plan{.next = std::move(*loaded.config), .pools = {}, .kept_tls = {}, .opened = {}};
    problems = prepare_reload(plan);
    if (problems.empty()) problems = open_new_listeners(plan);
    if (problems.empty()) {
      commit_reload(plan);
      for (const auto& pool : pools_)
        log::debug("reload: pool " + pool.settings.name + ": " + std::to_string(pool.backends.size()) +
                   " backend(s), leaving ones included");
      log::info("reload: configuration " + path + " applied (snapshot " + std::to_string(published_version()) + ")");
      return {};
    }
  }
  for (const auto& problem : problems) log::error("reload: " + problem);
  log::error("reload: " + path + " rejected; the running configuration stays");
  return problems;
}

// Changes nothing that is running: builds what the new config needs and
// collects every reason it cannot be applied.
std::vector<std::string> ControlPlane::prepare_reload(ReloadPlan& plan) {
  std::vector<std::string> problems;
  std::optional<PersistedState> state;
  try {
    // Cluster mode: etcd holds the lists; a reload keeps what it applied.
    state = cluster_ ? serving_state() : load_state_file(plan.next.state_file);
  } catch (const std::exception& e) {
    return {e.what()};
  }
  for (const auto& listener : plan.next.listeners) {
    const auto kept = listener_endpoints_.find(listener.address.text);
    if (kept == listener_endpoints_.end()) continue;
    try {
      plan.kept_tls.emplace_back(kept->second,
                                 listener.tls ? tls::ServerContext::build(*listener.tls, listener.http2) : nullptr);
    } catch (const std::exception& e) {
      problems.push_back(listener.address.text + ": " + e.what());
    }
  }
  try {
    plan.pools = desired_pools(plan.next, state ? &*state : nullptr);
  } catch (const std::exception& e) {
    problems.push_back(e.what());
  }
  return problems;
}

// All or nothing: a bind failure closes the listeners this reload opened.
std::vector<std::string> ControlPlane::open_new_listeners(ReloadPlan& plan) {
  for (const auto& listener : plan.next.listeners) {
    if (listener_endpoints_.count(listener.address.text)) continue;
    try {
      plan.opened[listener.address.text] = server_.open_listener(listener);
      log::info("reload: listening on " + listener.address.text);
    } catch (const std::exception& e) {
      for (const auto& [text, endpoint] : plan.opened) server_.close_listener(endpoint);
      plan.opened.clear();
      return {e.what()};
    }
  }
  return {};
}

void ControlPlane::commit_reload(ReloadPlan& plan) {
  switch_listeners(plan);
  warn_dropped_api_backends(plan);
  add_leaving_backends(plan.pools, plan.next.timeouts.drain);
  for (const auto& old : pools_) {
    const bool kept = std::any_of(plan.pools.begin(), plan.pools.end(),
                                  [&](const PoolRecord& p) { return p.settings.name == old.settings.name; });
    if (!kept) checker_.remove_pool(old.settings.name);
  }
  keep_restart_only_settings(plan.next);
  log::configure(plan.next.log.level, plan.next.log.format);
  config_ = std::move(plan.next);
  pools_ = std::move(plan.pools);
  update_health_targets();
  update_resolver();
  publish();
  autoscaler_.sample(Clock::now());  // the API shows new autoscale settings at once
  if (cluster_) cluster_->seed_new_pools();  // a pool the reload added goes to etcd
}

void ControlPlane::switch_listeners(ReloadPlan& plan) {
  for (auto it = listener_endpoints_.begin(); it != listener_endpoints_.end();) {
    const bool kept = std::any_of(plan.next.listeners.begin(), plan.next.listeners.end(),
                                  [&](const config::Listener& l) { return l.address.text == it->first; });
    if (kept) {
      ++it;
      continue;
    }
    log::info("reload: no longer listening on " + it->first);
    server_.close_listener(it->second);
    it = listener_endpoints_.erase(it);
  }
  listener_endpoints_.merge(plan.opened);
  for (const auto& [endpoint, context] : plan.kept_tls) server_.set_listener_tls(endpoint, context);
}

// Without a state file, backends added through the admin API live only in
// memory, and a reload rebuilds each pool from the file: they drain out. That
// surprises whoever added them, so each is named, with the remedy. A backend
// the running file listed and the new one drops is an intended removal.
// Before add_leaving_backends, which appends the leaving ones to plan.pools.
void ControlPlane::warn_dropped_api_backends(const ReloadPlan& plan) const {
  for (const auto& pool : plan.pools) {
    const PoolRecord* old = find_pool(pool.settings.name);
    if (!old) continue;
    const auto file_pool = std::find_if(config_.pools.begin(), config_.pools.end(),
                                        [&](const config::Pool& p) { return p.name == pool.settings.name; });
    const auto in_file = [&](const BackendRecord& backend) {
      if (file_pool == config_.pools.end()) return false;
      return std::any_of(file_pool->backends.begin(), file_pool->backends.end(), [&](const config::Backend& b) {
        return b.address.text == backend.address || config::same_endpoint(b.address.endpoint, backend.endpoint);
      });
    };
    std::set<std::uint64_t> kept_ids;
    for (const auto& backend : pool.backends) kept_ids.insert(backend.id);
    std::string dropped;
    for (const auto& backend : old->backends) {
      if (backend.removing || kept_ids.count(backend.id) || in_file(backend)) continue;
      dropped += (dropped.empty() ? "" : ", ") + backend.address;
    }
    if (dropped.empty()) continue;
    log::warn("reload: pool " + pool.settings.name + ": backends added through the admin API are not in " +
              plan.next.source + " and drain out now: " + dropped +
              (plan.next.state_file.empty()
                   ? "; set state_file to keep admin API changes across reloads and restarts"
                   : ""));
  }
}

// Backends that left a surviving pool drain out like an API removal.
void ControlPlane::add_leaving_backends(std::vector<PoolRecord>& pools, std::chrono::milliseconds drain) {
  for (auto& pool : pools) {
    const PoolRecord* old = find_pool(pool.settings.name);
    if (!old) continue;
    std::set<std::uint64_t> kept_ids;
    for (const auto& backend : pool.backends) kept_ids.insert(backend.id);
    for (const auto& backend : old->backends) {
      if (kept_ids.count(backend.id)) continue;
      BackendRecord leaving = backend;
      if (!leaving.removing) {
        leaving.removing = true;
        leaving.removing_since = published_version() + 1;
        leaving.remove_by = Clock::now() + drain;
      }
      pool.backends.push_back(std::move(leaving));
    }
  }
}

// These take effect only at start. The running config keeps the values in use,
// so that it describes what keel does and the next reload compares against
// them (and warns again).
void ControlPlane::keep_restart_only_settings(config::Config& next) const {
  if (next.workers != config_.workers)
    log::warn("reload: 'workers' changes only on restart; keeping " + std::to_string(config_.workers));
  if (admin_differs(next.admin, config_.admin))
    log::warn("reload: 'admin' changes only on restart; the admin API keeps its settings");
  if (access_log_differs(next.access_log, config_.access_log))
    log::warn("reload: 'access_log' changes only on restart; keeping the current one");
  if (next.cluster.has_value() != config_.cluster.has_value() ||
      (next.cluster && (next.cluster->prefix != config_.cluster->prefix ||
                        next.cluster->instance != config_.cluster->instance ||
                        next.cluster->endpoints.size() != config_.cluster->endpoints.size())))
    log::warn("reload: 'cluster' changes only on restart; keeping the current settings");
  next.cluster = config_.cluster;
  next.workers = config_.workers;
  next.admin = config_.admin;
  next.access_log = config_.access_log;
}

}  // namespace keel::control
