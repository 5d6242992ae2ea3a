#include "proxy/control/snapshot.hpp"

namespace keel::control {

std::shared_ptr<const RoutingSnapshot> build_snapshot(const config::Config& config,
                                                      std::uint64_t version, BackendIds& ids) {
  auto snapshot = std::make_shared<RoutingSnapshot>(RoutingSnapshot{
      .version = version,
      .pools = {},
      .router = http::Router(config.routes),
      .timeouts = config.timeouts,
      .limits = config.limits,
      .forwarded_mode = config.forwarded_mode,
  });
  snapshot->pools.reserve(config.pools.size());
  for (const auto& pool : config.pools) {
    PoolSnapshot view{.name = pool.name, .balance = pool.balance, .retries = pool.retries, .backends = {}};
    view.backends.reserve(pool.backends.size());
    for (const auto& backend : pool.backends)
      view.backends.push_back({.id = ids.next(),
                               .address = backend.address.text,
                               .endpoint = backend.address.endpoint,
                               .weight = backend.weight});
    snapshot->pools.push_back(std::move(view));
  }
  return snapshot;
}

}  // namespace keel::control
