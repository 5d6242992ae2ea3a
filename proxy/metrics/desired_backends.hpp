// The gauge keel_pool_desired_backends{pool} (INTERFACE.md "Metrics"): the
// autoscaler's current recommendation for each autoscaled pool.
#pragma once

#include "proxy/admin/pool_admin.hpp"

#include <span>
#include <string>

namespace keel::metrics {

// Control thread, per scrape. Appends the family in Prometheus text format
// 0.0.4 (# HELP, # TYPE gauge, one sample per autoscaled pool) to `out`;
// nothing at all when no pool is autoscaled (an empty family is noise).
// Feed it PoolAdmin::autoscaling().
void append_desired_backends(std::string& out, std::span<const admin::AutoscaleInfo> pools);

}  // namespace keel::metrics
