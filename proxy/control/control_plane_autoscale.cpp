// The control plane's side of autoscaling: what the AutoscaleDriver samples
// and what the admin API and metrics show.
#include "proxy/control/control_plane.hpp"

namespace keel::control {

std::vector<PoolLoad> ControlPlane::autoscale_loads() const {
  std::vector<PoolLoad> loads;
  for (const auto& pool : pools_) {
    if (!pool.settings.autoscale) continue;
    PoolLoad load{.name = pool.settings.name,
                  .settings = *pool.settings.autoscale,
                  .current = 0,
                  .in_flight = 0,
                  .waiting = pool.wait_stats->waiting(),
                  .others_concurrency = 0,
                  .others_waiting = 0,
                  .last_desired = std::nullopt};
    for (const auto& backend : pool.backends) {
      // What the listener controls: backends it added and has not removed or
      // drained. Requests still on draining ones are demand all the same.
      if (!backend.removing && !backend.draining) ++load.current;
      load.in_flight += backend.stats->active_requests();
    }
    if (cluster_) {
      if (const auto decision = cluster_->decision(pool.settings.name)) load.last_desired = decision->desired;
      if (cluster_->is_leader()) {
        const auto others = cluster_->others_load();
        if (const auto found = others.find(pool.settings.name); found != others.end()) {
          load.others_concurrency = found->second.concurrency;
          load.others_waiting = found->second.waiting;
        }
      }
    }
    loads.push_back(std::move(load));
  }
  return loads;
}

// Cluster mode: the leader's decision, wherever it is asked.
std::vector<admin::AutoscaleInfo> ControlPlane::autoscaling() const {
  auto local = autoscaler_.status();
  if (!cluster_) return local;
  for (auto& info : local) {
    if (cluster_->is_leader()) {
      info.decided_by = cluster_->instance();
      continue;
    }
    const auto decision = cluster_->decision(info.pool);
    if (!decision) continue;  // no decision yet: this instance's own view
    info.desired = decision->desired;
    info.observed_concurrency = decision->observed_concurrency;
    info.mode = decision->mode;
    info.decided_by = decision->decided_by;
  }
  return local;
}

}  // namespace keel::control
