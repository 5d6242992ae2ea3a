#pragma once

#include "balancer/autoscaler.hpp"
#include "proxy/admin/pool_admin.hpp"
#include "proxy/config/config.hpp"
#include "proxy/control/command_runner.hpp"
#include "proxy/control/webhook_sender.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::control {

// How often pools are sampled, and how often a decision is taken: samples
// average out the noise of instantaneous in-flight counts; decisions follow
// the 1 s buckets (Knative decides every 2 s).
inline constexpr std::chrono::milliseconds kAutoscaleSampleInterval{100};
inline constexpr std::chrono::milliseconds kAutoscaleDecisionInterval{1'000};

// One autoscaled pool as the control plane sees it at a sample.
struct PoolLoad {
  std::string name;
  config::Autoscale settings;
  std::uint32_t current = 0;   // backends in admin state active
  std::uint64_t in_flight = 0; // requests on its backends (draining ones included)
  std::uint64_t waiting = 0;   // requests held for lack of a backend (scale from zero)
  // Cluster mode, on the leader: the other instances' reported load (1 s averages).
  double others_concurrency = 0;
  std::uint64_t others_waiting = 0;
  // Where a fresh window starts (the cluster's last decision); unset: `current`.
  std::optional<std::uint32_t> last_desired;
};

balancer::AutoscaleSettings to_autoscale_settings(const config::Autoscale& settings);

// The autoscaler's runtime on the control thread: samples every autoscaled
// pool, feeds its balancer::Autoscaler, and on every change of `desired`
// POSTs {"pool","current","desired","observed_concurrency","mode"} to the
// pool's webhook and runs its command (both asynchronous). Pools and their
// settings are read at every sample, so a reload needs no call: a pool whose
// settings changed starts a new window from its last recommendation.
class AutoscaleDriver {
 public:
  using Clock = std::chrono::steady_clock;
  using Sampler = std::function<std::vector<PoolLoad>()>;

  AutoscaleDriver(boost::asio::io_context& io, Sampler sampler);
  ~AutoscaleDriver();

  // Control thread.
  void start();
  void stop();
  // One sample (and decision when due) now; the timer calls it, tests too.
  void sample(Clock::time_point now);

  std::vector<admin::AutoscaleInfo> status() const;

  // Cluster mode: only the leader announces (webhook, command, listener).
  // Becoming leader starts fresh windows, from the cluster's last decisions.
  void set_leader(bool leader);
  // Called on every announced change of desired (cluster mode: published to etcd).
  void on_announce(std::function<void(const admin::AutoscaleInfo&)> listener) { listener_ = std::move(listener); }

 private:
  struct PoolState {
    config::Autoscale settings;
    balancer::Autoscaler autoscaler;
    std::uint32_t current = 0;
    std::uint32_t announced = 0;  // the last desired sent out (starts at the pool's size)
    Clock::time_point next_decision{};
    std::unique_ptr<WebhookSender> webhook;
    std::unique_ptr<CommandRunner> command;
  };

  void schedule();
  void announce(const std::string& name, PoolState& pool);
  static balancer::Autoscaler::Time since_origin(Clock::time_point now);

  boost::asio::io_context& io_;
  Sampler sampler_;
  boost::asio::steady_timer timer_;
  std::vector<std::string> order_;  // pool names in config order
  std::map<std::string, PoolState, std::less<>> pools_;
  bool running_ = false;
  bool announcing_ = true;
  std::function<void(const admin::AutoscaleInfo&)> listener_;
};

}  // namespace keel::control
