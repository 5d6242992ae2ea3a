// ControlPlane::metrics_text: the /metrics page. Sums the workers' counter
// blocks on the control thread at scrape time, so counting on the request path
// stays worker-local (see proxy/metrics/counters.hpp).
#include "proxy/control/control_plane.hpp"

#include "proxy/metrics/exposition.hpp"
#include "proxy/metrics/process_metrics.hpp"
#include "proxy/server.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <string>

namespace keel::control {
namespace {

using metrics::kStatusSlots;

constexpr double kNanosecondsPerSecond = 1e9;

// One backend's series. Two records may share an address (one draining out
// for removal, one re-added): they are one series, summed.
struct BackendTotals {
  std::array<std::uint64_t, kStatusSlots> responses{};
  std::uint64_t active = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
  CheckCounts checks;
  bool healthy = false;
  bool has_checks = false;
};

struct PoolTotals {
  std::string name;
  std::map<std::string, BackendTotals> backends;
  std::array<std::uint64_t, kStatusSlots> unserved{};
  std::array<std::uint64_t, metrics::kDurationBoundsNs.size() + 1> durations{};
  std::uint64_t duration_sum_ns = 0;
  std::uint64_t retries = 0;
  std::uint64_t current_backends = 0;
};

void add_slots(std::array<std::uint64_t, kStatusSlots>& into, const metrics::StatusCounts& from) {
  for (std::size_t i = 0; i < kStatusSlots; ++i) into[i] += metrics::read(from[i]);
}

}  // namespace

std::string ControlPlane::metrics_text() const {
  std::vector<PoolTotals> pools;
  pools.reserve(pools_.size());
  for (const auto& pool : pools_) {
    PoolTotals& totals = pools.emplace_back();
    totals.name = pool.settings.name;
    if (pool.stats) {
      for (std::size_t w = 0; w < pool.stats->worker_count(); ++w) {
        const auto& block = pool.stats->worker(w);
        add_slots(totals.unserved, block.unserved);
        for (std::size_t b = 0; b < totals.durations.size(); ++b)
          totals.durations[b] += metrics::read(block.duration_buckets[b]);
        totals.duration_sum_ns += metrics::read(block.duration_sum_ns);
        totals.retries += metrics::read(block.retries);
      }
    }
    for (const auto& backend : pool.backends) {
      if (!backend.removing) ++totals.current_backends;
      BackendTotals& b = totals.backends[backend.address];
      const bool usable = backend.health == health::Health::healthy ||
                          (backend.health == health::Health::unknown &&
                           (!pool.settings.health_check || backend.started_with));
      b.healthy = b.healthy || usable;
      b.has_checks = pool.settings.health_check.has_value();
      const auto checks = counted_prober_.counts(backend.id);
      b.checks.passed += checks.passed;
      b.checks.failed += checks.failed;
      if (!backend.stats) continue;
      for (std::size_t w = 0; w < backend.stats->worker_count(); ++w) {
        const auto& block = backend.stats->worker(w);
        add_slots(b.responses, block.responses);
        b.active += metrics::read(block.in_flight);
        b.connect_failures += metrics::read(block.connect_failures);
        b.request_bytes += metrics::read(block.request_bytes);
        b.response_bytes += metrics::read(block.response_bytes);
      }
    }
  }
  std::array<std::uint64_t, kStatusSlots> unrouted{};
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  std::uint64_t http2_opened = 0, http2_closed = 0, http2_resets = 0;
  for (std::size_t w = 0; w < server_.worker_count(); ++w) {
    const auto& block = server_.worker_counters(w);
    add_slots(unrouted, block.unrouted);
    accepted += metrics::read(block.accepted_connections);
    refused += metrics::read(block.refused_connections);
    http2_opened += metrics::read(block.http2_connections);
    http2_closed += metrics::read(block.http2_connections_closed);
    http2_resets += metrics::read(block.http2_client_resets);
  }

  metrics::Exposition out;
  out.family("keel_requests_total", "counter",
             "Requests answered, by pool, backend and status code (backend \"\": answered by keel without a "
             "backend; pool \"\": refused before routing; code 499: the client left first; 4xx/5xx/...: "
             "uncommon codes of that class).");
  const auto emit_codes = [&](std::string_view pool, std::string_view backend,
                              const std::array<std::uint64_t, kStatusSlots>& counts) {
    for (std::size_t slot = 0; slot < kStatusSlots; ++slot)
      if (counts[slot] != 0)
        out.sample("keel_requests_total", {{"pool", pool}, {"backend", backend},
                                           {"code", metrics::status_label(slot)}},
                   counts[slot]);
  };
  for (const auto& pool : pools) {
    for (const auto& [address, b] : pool.backends) emit_codes(pool.name, address, b.responses);
    emit_codes(pool.name, "", pool.unserved);
  }
  emit_codes("", "", unrouted);

  out.family("keel_request_duration_seconds", "histogram",
             "Time from a complete request head to the end of the response, by pool.");
  for (const auto& pool : pools) {
    out.histogram("keel_request_duration_seconds", {{"pool", pool.name}}, metrics::kDurationBounds,
                  pool.durations, static_cast<double>(pool.duration_sum_ns) / kNanosecondsPerSecond);
  }

  const auto per_backend = [&](std::string_view name, std::string_view type, std::string_view help,
                               auto value) {
    out.family(name, type, help);
    for (const auto& pool : pools)
      for (const auto& [address, b] : pool.backends)
        out.sample(name, {{"pool", pool.name}, {"backend", address}}, static_cast<std::uint64_t>(value(b)));
  };
  per_backend("keel_backend_active_requests", "gauge", "Requests in flight on the backend.",
              [](const BackendTotals& b) { return b.active; });
  per_backend("keel_backend_healthy", "gauge",
              "1 if the backend may take traffic as far as health goes (active checks pass, or the pool has "
              "none), else 0.",
              [](const BackendTotals& b) { return b.healthy ? 1 : 0; });
  per_backend("keel_upstream_connect_failures_total", "counter", "Failed connection attempts to the backend.",
              [](const BackendTotals& b) { return b.connect_failures; });
  per_backend("keel_request_bytes_total", "counter",
              "Request bytes (head as forwarded, and body) sent to the backend.",
              [](const BackendTotals& b) { return b.request_bytes; });
  per_backend("keel_response_bytes_total", "counter",
              "Response bytes (head and body) sent to clients for requests the backend answered.",
              [](const BackendTotals& b) { return b.response_bytes; });

  out.family("keel_health_checks_total", "counter", "Active health checks by result.");
  for (const auto& pool : pools) {
    for (const auto& [address, b] : pool.backends) {
      if (!b.has_checks) continue;
      out.sample("keel_health_checks_total", {{"pool", pool.name}, {"backend", address}, {"result", "pass"}},
                 b.checks.passed);
      out.sample("keel_health_checks_total", {{"pool", pool.name}, {"backend", address}, {"result", "fail"}},
                 b.checks.failed);
    }
  }

  out.family("keel_upstream_retries_total", "counter",
             "Further attempts after a connect failure or a stale keep-alive connection, by pool.");
  for (const auto& pool : pools) out.sample("keel_upstream_retries_total", {{"pool", pool.name}}, pool.retries);
  out.family("keel_pool_backends", "gauge", "Backends in the pool (draining ones included, removed ones not).");
  for (const auto& pool : pools) out.sample("keel_pool_backends", {{"pool", pool.name}}, pool.current_backends);
  // Autoscaled pools only: for the others there is nothing to say.
  if (const auto scaled = autoscaling(); !scaled.empty()) {
    out.family("keel_pool_desired_backends", "gauge", "Backends the autoscaler recommends for the pool.");
    for (const auto& pool : scaled)
      out.sample("keel_pool_desired_backends", {{"pool", pool.pool}}, std::uint64_t{pool.desired});
    out.family("keel_pool_max_backends", "gauge", "The pool's autoscale.max_backends: desired never exceeds it.");
    for (const auto& record : pools_)
      if (record.settings.autoscale)
        out.sample("keel_pool_max_backends", {{"pool", record.settings.name}},
                   std::uint64_t{record.settings.autoscale->max_backends});
  }

  out.family("keel_client_connections", "gauge", "Open client connections.");
  out.sample("keel_client_connections", {}, static_cast<std::uint64_t>(server_.client_connections()));
  // Read without a lock: a close counted before its open (another worker's
  // block read first) must not wrap around.
  out.family("keel_client_connections_http2", "gauge", "Open client connections speaking HTTP/2 (also in keel_client_connections).");
  out.sample("keel_client_connections_http2", {}, http2_opened > http2_closed ? http2_opened - http2_closed : 0);
  out.family("keel_http2_client_resets_total", "counter", "HTTP/2 streams reset by clients (RST_STREAM).");
  out.sample("keel_http2_client_resets_total", {}, http2_resets);
  out.family("keel_max_client_connections", "gauge",
             "limits.max_connections, lowered to what the file descriptor limit has room for: past it new "
             "clients are refused.");
  out.sample("keel_max_client_connections", {},
             static_cast<std::uint64_t>(std::min(config_.limits.max_connections, server_.client_capacity())));
  out.family("keel_accepted_connections_total", "counter", "Client connections accepted.");
  out.sample("keel_accepted_connections_total", {}, accepted);
  out.family("keel_refused_connections_total", "counter",
             "Client connections closed at once because max_connections was reached.");
  out.sample("keel_refused_connections_total", {}, refused);
  out.family("keel_workers", "gauge", "Worker (I/O) threads.");
  out.sample("keel_workers", {}, static_cast<std::uint64_t>(server_.worker_count()));
  out.family("keel_worker_event_loop_lag_seconds", "gauge",
             "How late the worker's latest periodic tick (every 100ms) ran: time its loop was busy elsewhere.");
  for (std::size_t w = 0; w < server_.worker_count(); ++w) {
    const std::string worker = std::to_string(w);
    out.sample("keel_worker_event_loop_lag_seconds", {{"worker", worker}},
               static_cast<double>(metrics::read(server_.worker_counters(w).loop_lag_ns)) / kNanosecondsPerSecond);
  }
  if (server_.has_access_log()) {
    out.family("keel_access_log_dropped_lines_total", "counter",
               "Access log lines dropped because the writer fell behind (a worker's buffer was full).");
    out.sample("keel_access_log_dropped_lines_total", {}, server_.access_log_dropped());
  }
  if (cluster_) {
    const auto status = cluster_->status();
    out.family("keel_cluster_etcd_connected", "gauge", "1 while etcd answers this instance, else 0.");
    out.sample("keel_cluster_etcd_connected", {}, std::uint64_t{status.connected ? 1u : 0u});
    out.family("keel_cluster_applied_revision", "gauge", "The etcd revision this instance's pools are current to.");
    out.sample("keel_cluster_applied_revision", {}, static_cast<std::uint64_t>(status.applied_revision));
    out.family("keel_cluster_is_leader", "gauge", "1 on the instance that decides autoscaling, else 0.");
    out.sample("keel_cluster_is_leader", {}, std::uint64_t{cluster_->is_leader() ? 1u : 0u});
    out.family("keel_cluster_instances", "gauge", "Live keel instances registered in etcd, as last read.");
    out.sample("keel_cluster_instances", {}, static_cast<std::uint64_t>(status.instances.size()));
  }
  metrics::render_process(out, metrics::sample_process());
  return out.take();
}

}  // namespace keel::control
