#include "proxy/control/control_plane.hpp"

#include "proxy/log/log.hpp"
#include "proxy/server.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/upstream_context.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace keel::control {
namespace {

constexpr auto kDrainCheckInterval = std::chrono::milliseconds(50);
constexpr std::uint32_t kMaxWeight = 1000;

const char* balance_name(config::Balance balance) {
  return balance == config::Balance::least_conn ? "least_conn" : "round_robin";
}

health::CheckSettings check_settings(const config::HealthCheck& check) {
  health::CheckSettings settings;
  settings.path = check.path;
  settings.interval = check.interval;
  settings.timeout = check.timeout;
  settings.healthy_threshold = check.healthy_threshold;
  settings.unhealthy_threshold = check.unhealthy_threshold;
  settings.expect_min = check.expect_min;
  settings.expect_max = check.expect_max;
  return settings;
}

admin::Outcome failure(int status, std::string message) { return {status, std::move(message)}; }

// The state file named by `config`, if there is one. Throws on a corrupt file.
std::optional<PersistedState> load_state(const config::Config& config) {
  if (config.state_file.empty()) return std::nullopt;
  StateLoad loaded = read_state_file(config.state_file);
  if (loaded.missing) return std::nullopt;
  if (!loaded.state) throw std::runtime_error(loaded.error);
  return std::move(loaded.state);
}

std::optional<std::string> check_weight(std::uint32_t weight) {
  if (weight < 1 || weight > kMaxWeight) return "weight must be an integer from 1 to 1000";
  return std::nullopt;
}

}  // namespace

ControlPlane::ControlPlane(boost::asio::io_context& io, config::Config config, Server& server)
    : io_(io),
      config_(std::move(config)),
      server_(server),
      installed_(server.worker_count(), 0),
      prober_(io),
      scheduler_(io),
      checker_(counted_prober_, scheduler_,
               [this](std::uint64_t id, health::Health health, const std::string& detail) {
                 on_health_change(id, health, detail);
               },
               static_cast<std::uint32_t>(Clock::now().time_since_epoch().count())),
      drain_timer_(io),
      autoscaler_(io, [this] { return autoscale_loads(); }) {
  const auto state = load_state(config_);
  pools_ = desired_pools(config_, state ? &*state : nullptr);
  for (auto& pool : pools_)
    for (auto& backend : pool.backends) backend.started_with = true;
  server_.set_install_listener([this](std::size_t worker, std::uint64_t version) {
    boost::asio::post(io_, [this, worker, version] { on_installed(worker, version); });
  });
  server_.install_initial(build_snapshot());
  for (std::size_t i = 0; i < config_.listeners.size() && i < server_.endpoints().size(); ++i)
    listener_endpoints_[config_.listeners[i].address.text] = server_.endpoints()[i];
}

ControlPlane::~ControlPlane() { stop(); }

void ControlPlane::start() {
  update_health_targets();
  autoscaler_.start();
}

void ControlPlane::stop() {
  if (stopped_) return;
  stopped_ = true;
  checker_.stop();
  drain_timer_.cancel();
  autoscaler_.stop();
}

ControlPlane::BackendRecord ControlPlane::make_backend(const config::Address& address, std::uint32_t weight) {
  BackendRecord backend;
  backend.id = ++next_backend_id_;
  backend.address = address.text;
  backend.endpoint = address.endpoint;
  backend.weight = weight;
  backend.stats = std::make_shared<BackendStats>(server_.worker_count());
  return backend;
}

std::vector<ControlPlane::PoolRecord> ControlPlane::desired_pools(const config::Config& config,
                                                                  const PersistedState* state) {
  std::vector<PoolRecord> pools;
  pools.reserve(config.pools.size());
  for (const auto& settings : config.pools) {
    const PoolRecord* existing = find_pool(settings.name);
    PoolRecord pool{.settings = settings,
                    .backends = {},
                    .stats = existing ? existing->stats
                                      : std::make_shared<metrics::PoolStats>(server_.worker_count()),
                    .wait_stats = existing ? existing->wait_stats
                                           : std::make_shared<PoolWaitStats>(server_.worker_count()),
                    .tls = nullptr};
    pool.settings.backends.clear();
    if (settings.tls) pool.tls = tls::UpstreamContext::build(*settings.tls);
    auto adopt = [&](const config::Address& address, std::uint32_t weight, bool draining) {
      BackendRecord backend;
      const BackendRecord* old = nullptr;
      if (existing) {
        for (const auto& candidate : existing->backends)
          if (candidate.address == address.text && !candidate.removing) old = &candidate;
      }
      if (old) {
        backend = *old;
        backend.endpoint = address.endpoint;
        backend.weight = weight;
      } else {
        backend = make_backend(address, weight);
      }
      backend.draining = draining;
      pool.backends.push_back(std::move(backend));
    };
    const std::vector<PersistedBackend>* persisted = nullptr;
    if (state) {
      if (auto found = state->pools.find(settings.name); found != state->pools.end()) persisted = &found->second;
    }
    if (persisted) {
      for (const auto& entry : *persisted) {
        std::string problem;
        auto address = config::parse_address(entry.address, false, problem);
        if (!address)
          throw std::runtime_error(config.state_file + ": pool '" + settings.name + "': backend '" +
                                   entry.address + "': " + problem);
        adopt(*address, entry.weight, entry.draining);
      }
    } else {
      for (const auto& backend : settings.backends) adopt(backend.address, backend.weight, false);
    }
    pools.push_back(std::move(pool));
  }
  if (state) {
    for (const auto& entry : state->pools) {
      const std::string& name = entry.first;  // a structured binding: clang 14 cannot capture it
      if (std::none_of(config.pools.begin(), config.pools.end(), [&](const auto& p) { return p.name == name; }))
        log::warn("state file " + config.state_file + " names pool '" + name +
                  "', which the config does not have; ignored");
    }
  }
  return pools;
}

ControlPlane::PoolRecord* ControlPlane::find_pool(std::string_view name) {
  for (auto& pool : pools_)
    if (pool.settings.name == name) return &pool;
  return nullptr;
}

const ControlPlane::PoolRecord* ControlPlane::find_pool(std::string_view name) const {
  for (const auto& pool : pools_)
    if (pool.settings.name == name) return &pool;
  return nullptr;
}

std::shared_ptr<const RoutingSnapshot> ControlPlane::build_snapshot() {
  auto snapshot = std::make_shared<RoutingSnapshot>(RoutingSnapshot{
      .version = ++version_,
      .pools = {},
      .router = http::Router(config_.routes),
      .timeouts = config_.timeouts,
      .limits = config_.limits,
      .forwarded_mode = config_.forwarded_mode,
  });
  snapshot->pools.reserve(pools_.size());
  for (const auto& pool : pools_) {
    PoolSnapshot view{.name = pool.settings.name,
                      .balance = pool.settings.balance,
                      .retries = pool.settings.retries,
                      .passive = pool.settings.passive,
                      .backends = {},
                      .stats = pool.stats,
                      .holds_when_empty = pool.settings.autoscale && pool.settings.autoscale->min_backends == 0,
                      .wait_stats = pool.wait_stats,
                      .tls = pool.tls};
    view.backends.reserve(pool.backends.size());
    for (const auto& backend : pool.backends)
      view.backends.push_back({.id = backend.id,
                               .address = backend.address,
                               .endpoint = backend.endpoint,
                               .weight = backend.weight,
                               .draining = backend.draining || backend.removing,
                               .health = backend.health,
                               .usable_while_unknown = !pool.settings.health_check || backend.started_with,
                               .stats = backend.stats});
    snapshot->pools.push_back(std::move(view));
  }
  return snapshot;
}

void ControlPlane::publish() {
  server_.publish(build_snapshot());
  schedule_drain_check();
}

void ControlPlane::on_installed(std::size_t worker, std::uint64_t version) {
  if (worker >= installed_.size()) return;
  installed_[worker] = std::max(installed_[worker], version);
  const auto lowest = *std::min_element(installed_.begin(), installed_.end());
  {
    std::lock_guard lock(installed_mutex_);
    all_installed_ = lowest;
  }
  installed_changed_.notify_all();
}

bool ControlPlane::wait_installed(std::uint64_t version, std::chrono::milliseconds deadline) {
  std::unique_lock lock(installed_mutex_);
  return installed_changed_.wait_for(lock, deadline, [&] { return all_installed_ >= version; });
}

void ControlPlane::start_removing(BackendRecord& backend) {
  backend.removing = true;
  backend.removing_since = version_ + 1;  // the snapshot about to be published
  backend.remove_by = Clock::now() + config_.timeouts.drain;
}

void ControlPlane::schedule_drain_check() {
  if (drain_timer_armed_ || stopped_) return;
  const bool any = std::any_of(pools_.begin(), pools_.end(), [](const PoolRecord& pool) {
    return std::any_of(pool.backends.begin(), pool.backends.end(), [](const auto& b) { return b.removing; });
  });
  if (!any) return;
  drain_timer_armed_ = true;
  drain_timer_.expires_after(kDrainCheckInterval);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    drain_timer_armed_ = false;
    if (!ec) check_drains();
  });
}

// A removed backend goes once no worker can still pick it (all installed the
// snapshot that stopped its traffic) and none has a request on it, or when
// timeouts.drain runs out.
void ControlPlane::check_drains() {
  std::uint64_t lowest;
  {
    std::lock_guard lock(installed_mutex_);
    lowest = all_installed_;
  }
  const auto now = Clock::now();
  bool changed = false;
  for (auto& pool : pools_) {
    auto& backends = pool.backends;
    const auto gone = std::remove_if(backends.begin(), backends.end(), [&](const BackendRecord& backend) {
      if (!backend.removing) return false;
      const bool idle = lowest >= backend.removing_since && backend.stats->active_requests() == 0;
      if (!idle && now < backend.remove_by) return false;
      counted_prober_.forget(backend.id);
      if (idle)
        log::info("pool " + pool.settings.name + ": backend " + backend.address + " drained and removed");
      else
        log::warn("pool " + pool.settings.name + ": backend " + backend.address + " removed after " +
                  "timeouts.drain with " + std::to_string(backend.stats->active_requests()) +
                  " request(s) still in flight");
      return true;
    });
    if (gone != backends.end()) {
      backends.erase(gone, backends.end());
      changed = true;
    }
  }
  if (changed) {
    update_health_targets();
    publish();
  } else {
    schedule_drain_check();
  }
}

void ControlPlane::update_health_targets() {
  if (stopped_) return;
  for (const auto& pool : pools_) {
    if (!pool.settings.health_check) {
      checker_.remove_pool(pool.settings.name);
      continue;
    }
    std::vector<health::ProbeTarget> targets;
    for (const auto& backend : pool.backends) {
      if (backend.removing) continue;
      std::string address = backend.endpoint.address().to_string();
      if (backend.endpoint.address().is_v6()) address = "[" + address + "]";
      targets.push_back({backend.id, address + ":" + std::to_string(backend.endpoint.port())});
    }
    checker_.set_targets(pool.settings.name, check_settings(*pool.settings.health_check), std::move(targets));
  }
}

void ControlPlane::on_health_change(std::uint64_t backend_id, health::Health health, const std::string& detail) {
  for (auto& pool : pools_) {
    for (auto& backend : pool.backends) {
      if (backend.id != backend_id) continue;
      if (backend.health == health) return;
      backend.health = health;
      const std::string message = "pool " + pool.settings.name + ": backend " + backend.address + " is " +
                                  health::to_string(health) + (detail.empty() ? "" : " (" + detail + ")");
      if (health == health::Health::unhealthy)
        log::warn(message);
      else
        log::info(message);
      publish();
      return;
    }
  }
}

std::optional<admin::Outcome> ControlPlane::persist_or_rollback(std::vector<PoolRecord> before) {
  if (config_.state_file.empty()) return std::nullopt;
  PersistedState state;
  for (const auto& pool : pools_) {
    auto& entries = state.pools[pool.settings.name];
    for (const auto& backend : pool.backends)
      if (!backend.removing)
        entries.push_back({.address = backend.address, .weight = backend.weight, .draining = backend.draining});
  }
  if (auto problem = write_state_file(config_.state_file, state)) {
    pools_ = std::move(before);
    log::error("cannot write state file: " + *problem + "; change refused");
    return failure(500, "cannot persist the change: " + *problem);
  }
  return std::nullopt;
}

admin::PoolInfo ControlPlane::describe(const PoolRecord& pool) const {
  admin::PoolInfo info{.name = pool.settings.name, .balance = balance_name(pool.settings.balance), .backends = {}};
  for (const auto& backend : pool.backends)
    info.backends.push_back({.address = backend.address,
                             .weight = backend.weight,
                             .state = backend.draining || backend.removing ? "draining" : "active",
                             .health = health::to_string(backend.health),
                             .active_requests = backend.stats->active_requests(),
                             .total_requests = backend.stats->total_requests()});
  return info;
}

std::vector<admin::PoolInfo> ControlPlane::pools() const {
  std::vector<admin::PoolInfo> result;
  for (const auto& pool : pools_) result.push_back(describe(pool));
  return result;
}

std::optional<admin::PoolInfo> ControlPlane::pool(std::string_view name) const {
  const PoolRecord* pool = find_pool(name);
  if (!pool) return std::nullopt;
  return describe(*pool);
}

admin::Outcome ControlPlane::add_backend(std::string_view pool_name, const admin::BackendRequest& request) {
  PoolRecord* pool = find_pool(pool_name);
  if (!pool) return failure(404, "no pool named '" + std::string(pool_name) + "'");
  if (auto problem = check_weight(request.weight)) return failure(400, *problem);
  std::string problem;
  auto address = config::parse_address(request.address, false, problem);
  if (!address) return failure(400, "invalid address '" + request.address + "': " + problem);

  auto before = pools_;
  auto existing = std::find_if(pool->backends.begin(), pool->backends.end(),
                               [&](const BackendRecord& b) { return b.address == address->text; });
  if (existing != pool->backends.end() && !existing->removing)
    return failure(409, "backend " + address->text + " is already in pool '" + pool->settings.name + "'");
  if (existing != pool->backends.end()) {
    // Re-added while draining out: it stays, with its connections and counters.
    existing->removing = false;
    existing->draining = false;
    existing->weight = request.weight;
  } else {
    pool->backends.push_back(make_backend(*address, request.weight));
  }
  if (auto failed = persist_or_rollback(std::move(before))) return *failed;
  log::info("pool " + pool->settings.name + ": backend " + address->text + " added");
  update_health_targets();
  publish();
  return {201, {}};
}

admin::Outcome ControlPlane::replace_backends(std::string_view pool_name,
                                              const std::vector<admin::BackendRequest>& requests) {
  PoolRecord* pool = find_pool(pool_name);
  if (!pool) return failure(404, "no pool named '" + std::string(pool_name) + "'");
  std::vector<config::Address> addresses;
  std::set<std::string> seen;
  for (const auto& request : requests) {
    if (auto problem = check_weight(request.weight)) return failure(400, request.address + ": " + *problem);
    std::string problem;
    auto address = config::parse_address(request.address, false, problem);
    if (!address) return failure(400, "invalid address '" + request.address + "': " + problem);
    if (!seen.insert(address->text).second)
      return failure(400, "backend " + address->text + " appears twice in the list");
    addresses.push_back(std::move(*address));
  }

  auto before = pools_;
  std::vector<BackendRecord> next;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    auto existing = std::find_if(pool->backends.begin(), pool->backends.end(),
                                 [&](const BackendRecord& b) { return b.address == addresses[i].text; });
    if (existing != pool->backends.end()) {
      BackendRecord kept = *existing;  // keeps health, counters and admin state
      kept.removing = false;
      kept.weight = requests[i].weight;
      next.push_back(std::move(kept));
    } else {
      next.push_back(make_backend(addresses[i], requests[i].weight));
    }
  }
  for (auto& backend : pool->backends) {
    if (seen.count(backend.address)) continue;
    if (!backend.removing) start_removing(backend);
    next.push_back(backend);
  }
  pool->backends = std::move(next);
  if (auto failed = persist_or_rollback(std::move(before))) return *failed;
  log::info("pool " + pool->settings.name + ": backend set replaced (" + std::to_string(addresses.size()) +
            " backend(s))");
  update_health_targets();
  publish();
  return {200, {}};
}

admin::Outcome ControlPlane::patch_backend(std::string_view pool_name, std::string_view address,
                                           std::optional<std::uint32_t> weight,
                                           std::optional<admin::AdminState> state) {
  PoolRecord* pool = find_pool(pool_name);
  if (!pool) return failure(404, "no pool named '" + std::string(pool_name) + "'");
  if (!weight && !state) return failure(400, "nothing to change: give weight and/or state");
  if (weight)
    if (auto problem = check_weight(*weight)) return failure(400, *problem);
  auto before = pools_;
  auto backend = std::find_if(pool->backends.begin(), pool->backends.end(),
                              [&](const BackendRecord& b) { return b.address == address && !b.removing; });
  if (backend == pool->backends.end())
    return failure(404, "no backend " + std::string(address) + " in pool '" + pool->settings.name + "'");
  if (weight) backend->weight = *weight;
  if (state) backend->draining = *state == admin::AdminState::draining;
  if (auto failed = persist_or_rollback(std::move(before))) return *failed;
  log::info("pool " + pool->settings.name + ": backend " + std::string(address) + " changed");
  publish();
  return {200, {}};
}

admin::Outcome ControlPlane::remove_backend(std::string_view pool_name, std::string_view address) {
  PoolRecord* pool = find_pool(pool_name);
  if (!pool) return failure(404, "no pool named '" + std::string(pool_name) + "'");
  auto before = pools_;
  auto backend = std::find_if(pool->backends.begin(), pool->backends.end(),
                              [&](const BackendRecord& b) { return b.address == address && !b.removing; });
  if (backend == pool->backends.end())
    return failure(404, "no backend " + std::string(address) + " in pool '" + pool->settings.name + "'");
  start_removing(*backend);
  if (auto failed = persist_or_rollback(std::move(before))) return *failed;
  log::info("pool " + pool->settings.name + ": backend " + std::string(address) + " draining for removal");
  update_health_targets();
  publish();
  return {202, {}};
}

std::vector<std::string> ControlPlane::reload(const std::string& path) {
  auto loaded = config::load_config_file(path);
  for (const auto& warning : loaded.warnings) log::warn("reload: " + warning.to_string());
  std::vector<std::string> problems;
  if (!loaded.config) {
    for (const auto& error : loaded.errors) problems.push_back(error.to_string());
  } else {
    config::Config next = std::move(*loaded.config);
    std::optional<PersistedState> state;
    try {
      state = load_state(next);
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
    if (problems.empty()) {
      if (next.workers != config_.workers)
        log::warn("reload: 'workers' changes only on restart; keeping " + std::to_string(config_.workers));
      const bool admin_changed =
          next.admin.has_value() != config_.admin.has_value() ||
          (next.admin && (next.admin->address.text != config_.admin->address.text ||
                          next.admin->token != config_.admin->token));
      if (admin_changed) log::warn("reload: 'admin' changes only on restart; the admin API keeps its settings");
      const bool access_log_changed =
          next.access_log.has_value() != config_.access_log.has_value() ||
          (next.access_log && (next.access_log->path != config_.access_log->path ||
                               next.access_log->format != config_.access_log->format));
      if (access_log_changed) log::warn("reload: 'access_log' changes only on restart; keeping the current one");
      // Certificates of kept listeners are read again (a renewed certificate is
      // the usual reason for a SIGHUP); any failure keeps the running ones.
      std::vector<std::pair<boost::asio::ip::tcp::endpoint, std::shared_ptr<const tls::ServerContext>>> kept_tls;
      for (const auto& listener : next.listeners) {
        const auto kept = listener_endpoints_.find(listener.address.text);
        if (kept == listener_endpoints_.end()) continue;
        try {
          kept_tls.emplace_back(kept->second,
                                listener.tls ? tls::ServerContext::build(*listener.tls) : nullptr);
        } catch (const std::exception& e) {
          problems.push_back(listener.address.text + ": " + e.what());
        }
      }
      // Pools' TLS contexts (CA files) are built by desired_pools below, which
      // must not fail after listeners changed: try them first.
      for (const auto& pool : next.pools) {
        if (!pool.tls) continue;
        try {
          tls::UpstreamContext::build(*pool.tls);
        } catch (const std::exception& e) {
          problems.push_back("pool '" + pool.name + "': " + e.what());
        }
      }
      // Listeners: open the new ones first, so a bind failure changes nothing.
      std::map<std::string, boost::asio::ip::tcp::endpoint> opened;
      for (const auto& listener : next.listeners) {
        if (!problems.empty()) break;
        if (listener_endpoints_.count(listener.address.text)) continue;
        try {
          opened[listener.address.text] = server_.open_listener(listener);
          log::info("reload: listening on " + listener.address.text);
        } catch (const std::exception& e) {
          problems.push_back(e.what());
        }
      }
      if (!problems.empty()) {
        for (const auto& [text, endpoint] : opened) server_.close_listener(endpoint);
      } else {
        for (auto it = listener_endpoints_.begin(); it != listener_endpoints_.end();) {
          const bool kept = std::any_of(next.listeners.begin(), next.listeners.end(),
                                        [&](const auto& l) { return l.address.text == it->first; });
          if (kept) {
            ++it;
            continue;
          }
          log::info("reload: no longer listening on " + it->first);
          server_.close_listener(it->second);
          it = listener_endpoints_.erase(it);
        }
        listener_endpoints_.merge(opened);
        for (const auto& [endpoint, context] : kept_tls) server_.set_listener_tls(endpoint, context);
        auto pools = desired_pools(next, state ? &*state : nullptr);
        // Backends that left a surviving pool drain out like an API removal.
        for (auto& pool : pools) {
          const PoolRecord* old = find_pool(pool.settings.name);
          if (!old) continue;
          for (const auto& backend : old->backends) {
            const bool kept = std::any_of(pool.backends.begin(), pool.backends.end(),
                                          [&](const BackendRecord& b) { return b.address == backend.address; });
            if (kept) continue;
            BackendRecord leaving = backend;
            if (!leaving.removing) {
              leaving.removing = true;
              leaving.removing_since = version_ + 1;
              leaving.remove_by = Clock::now() + next.timeouts.drain;
            }
            pool.backends.push_back(std::move(leaving));
          }
        }
        for (const auto& old : pools_) {
          const bool kept = std::any_of(pools.begin(), pools.end(),
                                        [&](const PoolRecord& p) { return p.settings.name == old.settings.name; });
          if (!kept) checker_.remove_pool(old.settings.name);
        }
        const unsigned workers = config_.workers;
        auto access_log = std::move(config_.access_log);
        config_ = std::move(next);
        config_.workers = workers;
        config_.access_log = std::move(access_log);
        pools_ = std::move(pools);
        update_health_targets();
        publish();
        autoscaler_.sample(Clock::now());  // the API shows new autoscale settings at once
        log::info("reload: configuration " + path + " applied (snapshot " + std::to_string(version_) + ")");
        return {};
      }
    }
  }
  for (const auto& problem : problems) log::error("reload: " + problem);
  log::error("reload: " + path + " rejected; the running configuration stays");
  return problems;
}

}  // namespace keel::control
