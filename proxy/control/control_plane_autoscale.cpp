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
                  .waiting = pool.wait_stats->waiting()};
    for (const auto& backend : pool.backends) {
      // What the listener controls: backends it added and has not removed or
      // drained. Requests still on draining ones are demand all the same.
      if (!backend.removing && !backend.draining) ++load.current;
      load.in_flight += backend.stats->active_requests();
    }
    loads.push_back(std::move(load));
  }
  return loads;
}

std::vector<admin::AutoscaleInfo> ControlPlane::autoscaling() const { return autoscaler_.status(); }

}  // namespace keel::control
