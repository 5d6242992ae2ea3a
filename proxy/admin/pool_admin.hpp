#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::admin {

// The latest active check of a backend (docs/health.md).
struct CheckInfo {
  std::string last;    // when its result arrived, UTC, "2026-12-04T17:00:00Z"
  bool passed = false;  // "result": "pass" | "fail"
  std::string detail;  // "status 503", "connection refused", "timeout after 1s"...
  double latency_ms = 0;
  std::uint32_t consecutive = 0;  // results in a row like this one
};

// A backend kept out by passive checks on at least one worker.
struct EjectionInfo {
  std::string until;   // UTC, like CheckInfo::last
  std::string reason;  // "3 connect failures"
};

// A backend as the admin API shows it (docs/admin-api.md "A backend").
struct BackendInfo {
  std::string address;
  std::uint32_t weight = 1;
  std::string state;   // "active" | "draining"
  std::string health;  // "healthy" | "unhealthy" | "unknown" | "unchecked" (no active checks)
  std::uint64_t active_requests = 0;
  std::uint64_t total_requests = 0;
  std::optional<CheckInfo> check{};       // checked pools, once a check has completed
  std::optional<EjectionInfo> ejected{};  // while passive checks keep it out
};

struct PoolInfo {
  std::string name;
  std::string balance;  // "round_robin" | "least_conn"
  std::vector<BackendInfo> backends;
};

// An autoscaled pool's recommendation (GET /api/v1/pools/{pool}/autoscale and
// the gauge keel_pool_desired_backends).
struct AutoscaleInfo {
  std::string pool;
  std::uint32_t current = 0;  // backends in admin state active (not draining or being removed)
  std::uint32_t desired = 0;
  double observed_concurrency = 0;  // average in-flight + waiting over the deciding window
  std::string mode;                 // "stable" | "panic"
  std::string decided_by;           // cluster mode: the instance that decided; empty otherwise
};

// GET /api/v1/cluster.
struct ClusterInfo {
  struct Instance {
    std::string instance;
    std::int64_t applied_revision = 0;
    std::string started;
  };
  std::string instance;
  std::string leader;  // empty: none known (shown as null)
  bool connected = false;
  bool stale = false;  // serving the local cache, not yet confirmed by etcd
  std::int64_t revision = 0;  // newest etcd revision seen
  std::int64_t applied_revision = 0;
  std::string endpoint;
  std::vector<Instance> instances;
};

// A backend in a POST or PUT body.
struct BackendRequest {
  std::string address;
  std::uint32_t weight = 1;
};

enum class AdminState { active, draining };

struct Outcome;

// A change that ends later (cluster mode: once etcd took it and this instance
// applied it from the watch).
class PendingChange {
 public:
  virtual ~PendingChange() = default;
  // Calls `done` once, on the control thread, with the final outcome (never
  // itself pending); at once if it has already ended.
  virtual void when_done(std::function<void(Outcome)> done) = 0;
};

// How a change ended: `status` is the HTTP status to answer (201, 200, 202 on
// success; 400, 404, 409, 500, 503 with `error` set otherwise), unless
// `pending` is set: then the change has not ended yet and `pending` tells.
struct Outcome {
  int status = 200;
  std::string error;
  std::shared_ptr<PendingChange> pending = nullptr;
  int retry_after_seconds = 0;  // 503: when to try again (Retry-After)

  bool ok() const { return status >= 200 && status < 300; }
};

// What the admin API needs from the control plane. Called on the control
// thread only. A successful change has been validated, persisted to the state
// file and published to the workers when the call returns.
class PoolAdmin {
 public:
  virtual ~PoolAdmin() = default;

  virtual std::vector<PoolInfo> pools() const = 0;
  virtual std::optional<PoolInfo> pool(std::string_view name) const = 0;
  // Every pool with autoscale settings, in config order.
  virtual std::vector<AutoscaleInfo> autoscaling() const = 0;

  // Backends are one per endpoint: "127.0.0.1:8081", "127.0.0.1:08081",
  // "localhost:8081" and "[::ffff:127.0.0.1]:8081" are one backend, shown as
  // it was last written. `address` in patch and remove names a backend as
  // written, else by its endpoint.
  //
  // 201; 404 unknown pool; 409 the endpoint is already in the pool; 400 bad
  // address (unparseable, unresolvable, port 0) or weight (1..1000).
  virtual Outcome add_backend(std::string_view pool, const BackendRequest& backend) = 0;
  // 200; the new set replaces the old (kept backends keep their state; removed
  // ones drain); 400 on a bad entry; 409 an endpoint twice in the list; 404.
  virtual Outcome replace_backends(std::string_view pool, const std::vector<BackendRequest>& backends) = 0;
  // 200; at least one of weight/state is set; 404 unknown pool or backend; 400.
  virtual Outcome patch_backend(std::string_view pool, std::string_view address,
                                std::optional<std::uint32_t> weight,
                                std::optional<AdminState> state) = 0;
  // 202: the backend drains, then disappears; 404.
  virtual Outcome remove_backend(std::string_view pool, std::string_view address) = 0;

  // GET /metrics: the whole page in Prometheus text format 0.0.4.
  virtual std::string metrics_text() const = 0;

  // GET /api/v1/cluster: nullopt when cluster mode is off (404).
  virtual std::optional<ClusterInfo> cluster() const { return std::nullopt; }
};

}  // namespace keel::admin
