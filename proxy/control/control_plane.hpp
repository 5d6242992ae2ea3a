#pragma once

#include "health/checker.hpp"
#include "proxy/admin/pool_admin.hpp"
#include "proxy/cluster/cluster_agent.hpp"
#include "proxy/config/config.hpp"
#include "proxy/control/asio_scheduler.hpp"
#include "proxy/control/autoscale_driver.hpp"
#include "proxy/control/backend_resolver.hpp"
#include "proxy/control/backend_stats.hpp"
#include "proxy/control/counting_prober.hpp"
#include "proxy/control/http_prober.hpp"
#include "proxy/control/snapshot.hpp"
#include "proxy/control/state_file.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace keel {
class Server;
}

namespace keel::control {

// The single writer of pool state. Admin calls, health changes, drains and
// reloads all run on the control thread, so the registry needs no lock; each
// change becomes a new immutable RoutingSnapshot posted to every worker.
class ControlPlane final : public admin::PoolAdmin, private cluster::ClusterHost {
 public:
  using Clock = std::chrono::steady_clock;

  // Before the workers start. Reads the state file (its backend lists win over
  // the config's for the pools it names), installs the first snapshot on
  // `server`. Throws std::runtime_error on a corrupt or unreadable state file.
  ControlPlane(boost::asio::io_context& io, config::Config config, Server& server);
  ~ControlPlane() override;

  // Control thread: starts active health checks and drain tracking, and in
  // cluster mode the agent, as `cluster_instance` (the config's name, else
  // the default the caller worked out).
  void start(const std::string& cluster_instance = {});
  void stop();

  // Control thread (SIGHUP). Re-reads `path`; a config that does not validate
  // changes nothing. Returns the problems (empty on success); logs either way.
  // `workers`, `admin` and `access_log` change only on restart: a reload that
  // changes them warns, and config() keeps the values in use.
  std::vector<std::string> reload(const std::string& path);

  const config::Config& config() const { return config_; }

  // Any thread: blocks until every worker has installed snapshot `version` or
  // later (tests use it to see a change reach the workers).
  bool wait_installed(std::uint64_t version, std::chrono::milliseconds deadline);
  // Any thread: the version of the latest snapshot published (tests read it while
  // the control thread publishes, hence the atomic).
  std::uint64_t published_version() const { return version_.load(std::memory_order_relaxed); }

  // admin::PoolAdmin (control thread).
  std::vector<admin::PoolInfo> pools() const override;
  std::optional<admin::PoolInfo> pool(std::string_view name) const override;
  admin::Outcome add_backend(std::string_view pool, const admin::BackendRequest& backend) override;
  admin::Outcome replace_backends(std::string_view pool,
                                  const std::vector<admin::BackendRequest>& backends) override;
  admin::Outcome patch_backend(std::string_view pool, std::string_view address,
                               std::optional<std::uint32_t> weight,
                               std::optional<admin::AdminState> state) override;
  admin::Outcome remove_backend(std::string_view pool, std::string_view address) override;
  // The /metrics page (control_metrics.cpp): pools, backends, workers, process.
  std::string metrics_text() const override;
  std::vector<admin::AutoscaleInfo> autoscaling() const override;
  std::optional<admin::ClusterInfo> cluster() const override;

 private:
  struct BackendRecord {
    std::uint64_t id = 0;
    std::string address;
    boost::asio::ip::tcp::endpoint endpoint;
    std::uint32_t weight = 1;
    bool draining = false;  // admin state: no new requests, stays listed
    bool removing = false;  // drain, then disappear
    std::uint64_t removing_since = 0;  // snapshot version that stopped its traffic
    Clock::time_point remove_by{};     // timeouts.drain
    health::Health health = health::Health::unknown;
    bool started_with = false;  // present at start: usable before its first check
    std::shared_ptr<BackendStats> stats;
  };
  struct PoolRecord {
    config::Pool settings;  // backends unused: `backends` below is the truth
    std::vector<BackendRecord> backends;
    std::shared_ptr<metrics::PoolStats> stats;  // kept by name across reloads
    std::shared_ptr<PoolWaitStats> wait_stats;  // scale-from-zero waiters; kept across reloads by name
    std::shared_ptr<const tls::UpstreamContext> tls;  // from settings.tls
  };

  // What reload() prepares before it changes anything (control_plane_reload.cpp).
  struct ReloadPlan;

  PoolRecord* find_pool(std::string_view name);
  const PoolRecord* find_pool(std::string_view name) const;
  // The live (not removing) backend `address` names in `pool`: the one written
  // exactly so, else the one at the same endpoint (`address` is resolved like
  // a POSTed one, so "localhost:8081" finds "127.0.0.1:8081"). nullptr if none.
  static BackendRecord* find_backend(PoolRecord& pool, std::string_view address);
  BackendRecord make_backend(const config::Address& address, std::uint32_t weight);
  // Builds the pools from `config`, with the state file's lists for the pools
  // it names; existing records (by pool, then address as written, else
  // endpoint) keep id, stats and health. Throws std::runtime_error (naming the
  // pool) on a state file entry that does not resolve or repeats an endpoint,
  // or on a pool TLS setting that cannot be built.
  std::vector<PoolRecord> desired_pools(const config::Config& config, const PersistedState* state);
  // Reload steps, in order (control_plane_reload.cpp). Only the last changes state.
  std::vector<std::string> prepare_reload(ReloadPlan& plan);
  std::vector<std::string> open_new_listeners(ReloadPlan& plan);
  void commit_reload(ReloadPlan& plan);
  void switch_listeners(ReloadPlan& plan);
  void warn_dropped_api_backends(const ReloadPlan& plan) const;
  void add_leaving_backends(std::vector<PoolRecord>& pools, std::chrono::milliseconds drain);
  void keep_restart_only_settings(config::Config& next) const;
  void start_removing(BackendRecord& backend);
  // Writes the state file; on failure restores `before` and returns 500.
  std::optional<admin::Outcome> persist_or_rollback(std::vector<PoolRecord> before);
  std::shared_ptr<const RoutingSnapshot> build_snapshot();
  void publish();
  void on_installed(std::size_t worker, std::uint64_t version);
  void update_health_targets();
  void on_health_change(std::uint64_t backend_id, health::Health health, const std::string& detail);
  void schedule_drain_check();
  void check_drains();
  admin::PoolInfo describe(const PoolRecord& pool) const;
  // Re-resolving host names (control_plane_resolve.cpp): the pools with `resolve`
  // to the resolver, a pool's names to look up, and an answer applied.
  void update_resolver();
  std::vector<BackendResolver::Name> names_to_resolve(const std::string& pool) const;
  void on_resolved(const BackendResolver::Name& name, const boost::system::error_code& ec,
                   const std::vector<boost::asio::ip::tcp::endpoint>& endpoints);
  // The autoscaler's sample of every autoscaled pool (control_plane_autoscale.cpp).
  std::vector<PoolLoad> autoscale_loads() const;

  // Cluster mode (control_plane_cluster.cpp).
  std::string endpoint_key(const boost::asio::ip::tcp::endpoint& endpoint) const;
  PersistedState serving_state() const;
  void write_cache();
  // cluster::ClusterHost
  std::vector<std::string> pool_names() const override;
  void apply_pool(const std::string& pool, const std::vector<cluster::ClusterView::Backend>& backends) override;
  std::vector<std::pair<std::string, cluster::BackendValue>> serving(const std::string& pool) const override;
  std::map<std::string, cluster::MemberValue::Load> load_now() const override;
  std::map<std::string, std::uint64_t> removing_in_flight() const override;
  std::chrono::milliseconds drain_timeout() const override { return config_.timeouts.drain; }
  void cluster_applied() override;

  boost::asio::io_context& io_;
  config::Config config_;
  Server& server_;
  std::vector<PoolRecord> pools_;
  // Listener address as configured → where it is bound (port 0 resolved).
  std::map<std::string, boost::asio::ip::tcp::endpoint> listener_endpoints_;
  std::uint64_t next_backend_id_ = 0;
  std::atomic<std::uint64_t> version_{0};  // written by the control thread only

  // Installed versions per worker; the condition variable serves tests.
  std::vector<std::uint64_t> installed_;
  mutable std::mutex installed_mutex_;
  std::condition_variable installed_changed_;
  std::uint64_t all_installed_ = 0;

  HttpProber prober_;
  CountingProber counted_prober_{prober_};
  AsioScheduler scheduler_;
  health::Checker checker_;
  boost::asio::steady_timer drain_timer_;
  bool drain_timer_armed_ = false;
  bool stopped_ = false;
  // Backend id -> the re-resolution problem last warned about (until it changes or ends).
  std::map<std::uint64_t, std::string> resolve_warned_;
  BackendResolver resolver_{io_, [this](const std::string& pool) { return names_to_resolve(pool); },
                            [this](const BackendResolver::Name& name, const boost::system::error_code& ec,
                                   const std::vector<boost::asio::ip::tcp::endpoint>& endpoints) {
                              on_resolved(name, ec, endpoints);
                            }};
  AutoscaleDriver autoscaler_;  // its sampler reads the pools above
  std::unique_ptr<cluster::ClusterAgent> cluster_;  // cluster mode only; after what it calls back
};

}  // namespace keel::control
