// Cluster mode's runtime on the control thread (docs/cluster.md): keeps this
// instance's pools in step with etcd, registers the instance under a lease,
// takes part in the leader election, and turns admin changes into etcd
// transactions answered once the watch has brought them back.
//
// One path for applying: the range at start (and after compaction, a restore
// or a change of cluster) and the watch are the only sources of pool state;
// this instance's own writes arrive through the watch like everyone else's.
#pragma once

#include "proxy/admin/pool_admin.hpp"
#include "proxy/cluster/cluster_keys.hpp"
#include "proxy/cluster/cluster_view.hpp"
#include "proxy/cluster/etcd_client.hpp"
#include "proxy/config/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace keel::cluster {

// What the agent needs from the control plane.
class ClusterHost {
 public:
  virtual ~ClusterHost() = default;
  // Pools the config defines, in order.
  virtual std::vector<std::string> pool_names() const = 0;
  // etcd's backend list for `pool` (seeded pools only): the pool becomes exactly this.
  virtual void apply_pool(const std::string& pool, const std::vector<ClusterView::Backend>& backends) = 0;
  // What this instance serves now, to seed an empty prefix with: canonical
  // endpoint (the key) and value.
  virtual std::vector<std::pair<std::string, BackendValue>> serving(const std::string& pool) const = 0;
  // Per autoscaled pool, now: in-flight + waiting requests, and waiting ones.
  virtual std::map<std::string, MemberValue::Load> load_now() const = 0;
  // Requests in flight here on backends etcd marks as removing (full key -> count).
  virtual std::map<std::string, std::uint64_t> removing_in_flight() const = 0;
  virtual std::chrono::milliseconds drain_timeout() const = 0;
  // The state etcd gave is in place (or etcd is back): the state file cache can be written.
  virtual void cluster_applied() = 0;
};

struct ClusterStatus {
  std::string instance;
  std::string leader;  // empty: none known
  bool connected = false;
  bool stale = true;  // serving a cached state, not yet confirmed by etcd
  std::int64_t applied_revision = 0;
  std::int64_t etcd_revision = 0;  // the newest revision seen from etcd
  std::string endpoint;
  std::vector<MemberValue> instances;  // live ones, as last read
};

class ClusterAgent {
 public:
  using Clock = std::chrono::steady_clock;

  ClusterAgent(boost::asio::io_context& io, config::Cluster settings, std::string instance, ClusterHost& host);
  ~ClusterAgent();

  void start();
  // Ends every loop; pending admin changes answer 503.
  void stop();

  // Admin changes (control thread). The endpoint is the canonical one (the
  // key); `address` as written. Outcome::pending completes once applied here.
  admin::Outcome add(const std::string& pool, const std::string& endpoint, const BackendValue& value);
  admin::Outcome change(const std::string& pool, const std::string& endpoint, std::optional<std::uint32_t> weight,
                        std::optional<BackendState> state);
  admin::Outcome remove(const std::string& pool, const std::string& endpoint);
  admin::Outcome replace(const std::string& pool, const std::vector<std::pair<std::string, BackendValue>>& backends);

  // After a reload: pools etcd has never seen are seeded from the YAML.
  void seed_new_pools();

  ClusterStatus status() const;
  bool is_leader() const { return is_leader_; }
  std::int64_t applied_revision() const { return view_.revision(); }
  const std::string& instance() const { return instance_; }
  std::optional<DecisionValue> decision(const std::string& pool) const { return view_.decision(pool); }
  // Leader: the other live instances' load per pool (their last reports).
  std::map<std::string, MemberValue::Load> others_load() const;
  // Leader: publishes its autoscale decision for every instance to show.
  void publish_decision(const std::string& pool, const DecisionValue& decision);
  // Called when leadership is won or lost.
  void on_leadership(std::function<void(bool)> callback) { leadership_callback_ = std::move(callback); }

 private:
  class Pending;
  struct Waiter {
    std::int64_t revision = 0;
    Clock::time_point deadline;
    std::shared_ptr<Pending> pending;
  };

  // cluster_sync.cpp
  boost::asio::awaitable<void> sync_loop();
  boost::asio::awaitable<bool> full_sync();
  boost::asio::awaitable<bool> range_and_apply();
  bool apply_range(const EtcdReply& reply);
  std::string on_watch_line(std::string_view line);
  static std::string refused_watch(unsigned status);
  std::string on_watch_message(const WatchMessage& message);
  boost::asio::awaitable<std::string> watch(std::int64_t from);
  void apply_changed(const std::set<std::string>& pools);
  void set_connected(bool connected, const std::string& why);
  boost::asio::awaitable<void> check_watch_keeps_up();
  boost::asio::awaitable<bool> seed_pools();
  // cluster_membership.cpp
  boost::asio::awaitable<void> member_loop();
  boost::asio::awaitable<bool> ensure_lease();
  boost::asio::awaitable<void> report();
  boost::asio::awaitable<void> elect();
  boost::asio::awaitable<void> refresh_members();
  boost::asio::awaitable<void> finish_drains();
  void sample_load();
  static bool lease_alive(const EtcdReply& reply);
  void learn_leader(const boost::json::object& reply);
  static void log_drained(const std::string& pool, const std::string& address, bool idle);
  void set_leader(const std::string& leader);
  // cluster_writes.cpp
  std::optional<admin::Outcome> refuse_unless_current() const;
  struct Listed {
    std::string key;
    std::int64_t mod_revision = 0;
    BackendValue value;
  };
  std::optional<Listed> listed(const std::string& pool, const std::string& endpoint) const;
  static admin::Outcome not_listed(const std::string& pool, const std::string& endpoint);
  admin::Outcome submit(std::vector<Compare> compares, std::vector<Operation> operations, std::string what);
  boost::asio::awaitable<void> run_write(std::shared_ptr<Pending> pending, std::string body, std::string what);
  void release_waiters();
  admin::Outcome failed_write(const EtcdReply& reply, const std::string& what);
  void expire_waiters();
  void fail_waiters(const std::string& why);

  boost::asio::io_context& io_;
  config::Cluster settings_;
  std::string instance_;
  ClusterHost& host_;
  KeyLayout layout_;
  EtcdClient client_;
  ClusterView view_;
  std::string started_;  // RFC 3339, for the instance list

  bool running_ = false;
  bool connected_ = false;
  bool stale_ = true;
  bool resync_ = true;  // the next connection starts with a full range
  bool watching_ = false;  // a watch is open: what this instance applied is current
  std::uint64_t cluster_id_ = 0;
  std::int64_t etcd_revision_ = 0;
  std::unique_ptr<EtcdConnection> watch_connection_;
  Clock::time_point last_keep_up_check_{};
  std::optional<std::map<std::string, std::int64_t>> suspicious_;  // a range the watch had not caught up with

  std::int64_t lease_ = 0;
  Clock::time_point next_keepalive_{};
  Clock::time_point lease_confirmed_{};
  std::string leader_;
  bool is_leader_ = false;
  std::function<void(bool)> leadership_callback_;
  std::map<std::string, MemberValue> members_;  // live instances, by name
  Clock::time_point members_read_{};
  std::string last_report_;
  Clock::time_point last_report_at_{};
  // 1 s averages of this instance's load, from samples every 100 ms.
  std::map<std::string, std::vector<MemberValue::Load>> load_samples_;
  std::map<std::string, std::int64_t> drain_deletes_;  // key -> mod revision being deleted

  std::vector<Waiter> waiters_;
  std::shared_ptr<boost::asio::steady_timer> wake_;  // member loop's tick; cancelled to stop
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace keel::cluster
