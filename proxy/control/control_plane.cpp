#include "proxy/control/control_plane.hpp"

#include "proxy/control/health_report.hpp"
#include "proxy/http/address_text.hpp"
#include "proxy/log/log.hpp"
#include "proxy/server.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/upstream_context.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace keel::control {
namespace {

constexpr auto kDrainCheckInterval = std::chrono::milliseconds(50);

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

std::optional<std::string> check_weight(std::uint32_t weight) {
  if (weight < config::kMinWeight || weight > config::kMaxWeight)
    return "weight must be an integer from " + std::to_string(config::kMinWeight) + " to " +
           std::to_string(config::kMaxWeight);
  return std::nullopt;
}

// " (as 127.0.0.1:8081)" when the backend was written differently from `text`.
std::string written_as(const std::string& address, std::string_view text) {
  return address == text ? std::string() : " (as " + address + ")";
}

struct DesiredBackend {
  config::Address address;
  std::uint32_t weight = 1;
  bool draining = false;
};

// The backends `pool` asks for: the state file's list when it names the pool
// (resolved now; one entry per endpoint), else the config's.
std::vector<DesiredBackend> desired_backends(const config::Pool& pool, const std::string& state_file,
                                             const std::vector<PersistedBackend>* persisted) {
  std::vector<DesiredBackend> backends;
  if (!persisted) {
    for (const auto& backend : pool.backends) backends.push_back({backend.address, backend.weight, false});
    return backends;
  }
  std::map<boost::asio::ip::tcp::endpoint, std::string> seen;  // canonical endpoint -> address as written
  for (const auto& entry : *persisted) {
    const std::string where = state_file + ": pool '" + pool.name + "': backend '" + entry.address + "': ";
    std::string problem;
    auto address = config::parse_address(entry.address, false, problem);
    if (!address) throw std::runtime_error(where + problem);
    const auto [first, inserted] = seen.emplace(config::canonical_endpoint(address->endpoint), entry.address);
    if (!inserted) throw std::runtime_error(where + "same backend as '" + first->second + "'");
    backends.push_back({std::move(*address), entry.weight, entry.draining});
  }
  return backends;
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
  const auto state = load_state_file(config_.state_file);
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

void ControlPlane::start(const std::string& cluster_instance) {
  update_health_targets();
  update_resolver();
  autoscaler_.start();
  if (config_.cluster) {
    cluster::ClusterHost& host = *this;
    cluster_ = std::make_unique<cluster::ClusterAgent>(io_, *config_.cluster, cluster_instance, host);
    cluster_->on_leadership([this](bool leader) { autoscaler_.set_leader(leader); });
    autoscaler_.set_leader(false);
    autoscaler_.on_announce([this](const admin::AutoscaleInfo& info) {
      cluster_->publish_decision(info.pool, {.current = info.current,
                                             .desired = info.desired,
                                             .observed_concurrency = info.observed_concurrency,
                                             .mode = info.mode,
                                             .decided_by = {},
                                             .at_ms = 0});
    });
    cluster_->start();
  }
}

void ControlPlane::stop() {
  if (stopped_) return;
  stopped_ = true;
  checker_.stop();
  drain_timer_.cancel();
  resolver_.stop();
  autoscaler_.stop();
  if (cluster_) cluster_->stop();
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
    if (settings.tls) {
      try {
        pool.tls = tls::UpstreamContext::build(*settings.tls);
      } catch (const std::exception& e) {
        throw std::runtime_error("pool '" + settings.name + "': " + e.what());
      }
    }
    const std::vector<PersistedBackend>* persisted = nullptr;
    if (state) {
      if (auto found = state->pools.find(settings.name); found != state->pools.end()) persisted = &found->second;
    }
    std::set<std::uint64_t> adopted;
    // The record this backend continues: written the same, else at the same endpoint.
    auto previous = [&](const config::Address& address) -> const BackendRecord* {
      if (!existing) return nullptr;
      const BackendRecord* by_endpoint = nullptr;
      for (const auto& candidate : existing->backends) {
        if (candidate.removing || adopted.count(candidate.id)) continue;
        if (candidate.address == address.text) return &candidate;
        if (!by_endpoint && config::same_endpoint(candidate.endpoint, address.endpoint)) by_endpoint = &candidate;
      }
      return by_endpoint;
    };
    for (auto& wanted : desired_backends(settings, config.state_file, persisted)) {
      BackendRecord backend;
      if (const BackendRecord* old = previous(wanted.address)) {
        backend = *old;
        backend.address = wanted.address.text;
        backend.endpoint = wanted.address.endpoint;
        backend.weight = wanted.weight;
        adopted.insert(backend.id);
      } else {
        backend = make_backend(wanted.address, wanted.weight);
      }
      backend.draining = wanted.draining;
      pool.backends.push_back(std::move(backend));
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
  // Single writer: a load and a store, no read-modify-write.
  const std::uint64_t version = version_.load(std::memory_order_relaxed) + 1;
  version_.store(version, std::memory_order_relaxed);
  auto snapshot = std::make_shared<RoutingSnapshot>(RoutingSnapshot{
      .version = version,
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
  backend.removing_since = published_version() + 1;  // the snapshot about to be published
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
  for (auto& pool : pools_) {
    if (!pool.settings.health_check) {
      checker_.remove_pool(pool.settings.name);
      // Nothing would ever clear a verdict the removed checks left: a backend found
      // unhealthy before a reload dropped the pool's health_check would stay out for good.
      for (auto& backend : pool.backends) backend.health = health::Health::unknown;
      continue;
    }
    std::vector<health::ProbeTarget> targets;
    for (const auto& backend : pool.backends) {
      if (backend.removing) continue;
      targets.push_back({backend.id, http::endpoint_text(backend.endpoint), backend.address});
    }
    health::CheckSettings settings = check_settings(*pool.settings.health_check);
    if (pool.tls) settings.transport = std::make_shared<TlsProbeTransport>(pool.tls);  // as the workers connect
    checker_.set_targets(pool.settings.name, settings, std::move(targets));
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
  if (auto problem = write_state_file(config_.state_file, serving_state())) {
    pools_ = std::move(before);
    log::error("cannot write state file: " + *problem + "; change refused");
    return failure(500, "cannot persist the change: " + *problem);
  }
  return std::nullopt;
}

admin::PoolInfo ControlPlane::describe(const PoolRecord& pool) const {
  admin::PoolInfo info{.name = pool.settings.name, .balance = balance_name(pool.settings.balance), .backends = {}};
  const auto now = ClockPair::now();
  const bool checked = pool.settings.health_check.has_value();
  for (const auto& backend : pool.backends) {
    admin::BackendInfo shown{.address = backend.address,
                             .weight = backend.weight,
                             .state = backend.draining || backend.removing ? "draining" : "active",
                             .health = checked ? health::to_string(backend.health) : "unchecked",
                             .active_requests = backend.stats->active_requests(),
                             .total_requests = backend.stats->total_requests()};
    if (checked)
      if (const auto report = checker_.last_check(backend.id)) shown.check = check_info(*report, now);
    if (const auto ejection = backend.stats->ejection(now.steady)) shown.ejected = ejection_info(*ejection, now);
    info.backends.push_back(std::move(shown));
  }
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

ControlPlane::BackendRecord* ControlPlane::find_backend(PoolRecord& pool, std::string_view address) {
  for (auto& backend : pool.backends)
    if (!backend.removing && backend.address == address) return &backend;
  std::string problem;
  const auto parsed = config::parse_address(address, false, problem);
  if (!parsed) return nullptr;
  for (auto& backend : pool.backends)
    if (!backend.removing && config::same_endpoint(backend.endpoint, parsed->endpoint)) return &backend;
  return nullptr;
}

admin::Outcome ControlPlane::add_backend(std::string_view pool_name, const admin::BackendRequest& request) {
  PoolRecord* pool = find_pool(pool_name);
  if (!pool) return failure(404, "no pool named '" + std::string(pool_name) + "'");
  if (auto problem = check_weight(request.weight)) return failure(400, *problem);
  std::string problem;
  auto address = config::parse_address(request.address, false, problem);
  if (!address) return failure(400, "invalid address '" + request.address + "': " + problem);
  if (cluster_)
    return cluster_->add(pool->settings.name, endpoint_key(address->endpoint),
                         {.address = address->text, .weight = request.weight});

  // One backend, one entry: by endpoint, not by how the address is written.
  BackendRecord* live = nullptr;
  BackendRecord* leaving = nullptr;
  for (auto& backend : pool->backends) {
    if (!config::same_endpoint(backend.endpoint, address->endpoint)) continue;
    (backend.removing ? leaving : live) = &backend;
  }
  if (live)
    return failure(409, "backend " + address->text + " is already in pool '" + pool->settings.name + "'" +
                            written_as(live->address, address->text));
  auto before = pools_;
  if (leaving) {
    // Re-added while draining out: it stays, with its connections and counters.
    leaving->removing = false;
    leaving->draining = false;
    leaving->weight = request.weight;
    leaving->address = address->text;
    leaving->endpoint = address->endpoint;
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
  std::map<boost::asio::ip::tcp::endpoint, std::string> seen;  // canonical endpoint -> address as written
  for (const auto& request : requests) {
    if (auto problem = check_weight(request.weight)) return failure(400, request.address + ": " + *problem);
    std::string problem;
    auto address = config::parse_address(request.address, false, problem);
    if (!address) return failure(400, "invalid address '" + request.address + "': " + problem);
    const auto [first, inserted] = seen.emplace(config::canonical_endpoint(address->endpoint), address->text);
    if (!inserted)
      return failure(409, "backend " + address->text + " appears twice in the list" +
                              written_as(first->second, address->text));
    addresses.push_back(std::move(*address));
  }
  if (cluster_) {
    std::vector<std::pair<std::string, cluster::BackendValue>> wanted;
    for (std::size_t i = 0; i < addresses.size(); ++i)
      wanted.emplace_back(endpoint_key(addresses[i].endpoint),
                          cluster::BackendValue{.address = addresses[i].text, .weight = requests[i].weight});
    return cluster_->replace(pool->settings.name, wanted);
  }

  // The record each endpoint continues, a live one before one draining out.
  std::map<boost::asio::ip::tcp::endpoint, std::size_t> current;
  for (std::size_t i = 0; i < pool->backends.size(); ++i) {
    const auto [slot, inserted] = current.emplace(config::canonical_endpoint(pool->backends[i].endpoint), i);
    if (!inserted && pool->backends[slot->second].removing && !pool->backends[i].removing) slot->second = i;
  }
  auto before = pools_;
  std::set<std::uint64_t> kept_ids;
  std::vector<BackendRecord> next;
  next.reserve(addresses.size() + pool->backends.size());
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    const auto found = current.find(config::canonical_endpoint(addresses[i].endpoint));
    if (found == current.end()) {
      next.push_back(make_backend(addresses[i], requests[i].weight));
      continue;
    }
    BackendRecord kept = pool->backends[found->second];  // keeps health, counters and admin state
    kept.removing = false;
    kept.weight = requests[i].weight;
    kept.address = addresses[i].text;
    kept.endpoint = addresses[i].endpoint;
    kept_ids.insert(kept.id);
    next.push_back(std::move(kept));
  }
  for (auto& backend : pool->backends) {
    if (kept_ids.count(backend.id)) continue;
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
  BackendRecord* backend = find_backend(*pool, address);
  if (!backend)
    return failure(404, "no backend " + std::string(address) + " in pool '" + pool->settings.name + "'");
  if (cluster_) {
    std::optional<cluster::BackendState> next;
    if (state)
      next = *state == admin::AdminState::draining ? cluster::BackendState::draining : cluster::BackendState::active;
    return cluster_->change(pool->settings.name, endpoint_key(backend->endpoint), weight, next);
  }
  if (weight) backend->weight = *weight;
  if (state) backend->draining = *state == admin::AdminState::draining;
  if (auto failed = persist_or_rollback(std::move(before))) return *failed;
  log::info("pool " + pool->settings.name + ": backend " + backend->address + " changed");
  publish();
  return {200, {}};
}

admin::Outcome ControlPlane::remove_backend(std::string_view pool_name, std::string_view address) {
  PoolRecord* pool = find_pool(pool_name);
  if (!pool) return failure(404, "no pool named '" + std::string(pool_name) + "'");
  auto before = pools_;
  BackendRecord* backend = find_backend(*pool, address);
  if (!backend)
    return failure(404, "no backend " + std::string(address) + " in pool '" + pool->settings.name + "'");
  if (cluster_) return cluster_->remove(pool->settings.name, endpoint_key(backend->endpoint));
  start_removing(*backend);
  if (auto failed = persist_or_rollback(std::move(before))) return *failed;
  log::info("pool " + pool->settings.name + ": backend " + backend->address + " draining for removal");
  update_health_targets();
  publish();
  return {202, {}};
}

}  // namespace keel::control
