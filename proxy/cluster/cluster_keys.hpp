// Where cluster mode keeps things in etcd, under the configured prefix, and
// what the values hold (JSON). The layout (docs/cluster.md):
//   pools/<pool>/backends/<endpoint>  {"address","weight","state"[,"removed_at"]}
//   pools/<pool>/seeded               {"instance","at"}: the YAML seeded this pool once
//   pools/<pool>/autoscale            the leader's decision
//   members/<instance>                leased: this instance's report
//   leader                            leased: the instance that decides
// A backend's key is its canonical endpoint ("127.0.0.1:8081", "[::1]:8081"),
// so the same backend written two ways is one key on every instance.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace keel::cluster {

class KeyLayout {
 public:
  explicit KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }
  std::string pools() const { return prefix_ + "pools/"; }
  std::string members() const { return prefix_ + "members/"; }
  std::string leader() const { return prefix_ + "leader"; }
  std::string pool_backends(std::string_view pool) const;
  std::string backend(std::string_view pool, std::string_view endpoint) const;
  std::string seeded(std::string_view pool) const;
  std::string autoscale(std::string_view pool) const;
  std::string member(std::string_view instance) const;

  // What a key under pools/ names; nullopt for anything else.
  struct PoolKey {
    enum class Kind { backend, seeded, autoscale } kind = Kind::backend;
    std::string pool;
    std::string endpoint;  // backend only
  };
  std::optional<PoolKey> parse_pool_key(std::string_view key) const;

 private:
  std::string prefix_;
};

enum class BackendState { active, draining, removing };
const char* to_string(BackendState state);

struct BackendValue {
  std::string address;  // as written by whoever added it
  std::uint32_t weight = 1;
  BackendState state = BackendState::active;
  std::int64_t removed_at_ms = 0;  // removing: wall clock (ms since the epoch) of the removal
};
std::string encode(const BackendValue& value);
// nullopt and `problem` set when the value is not a backend (weight outside
// 1..1000, unknown state, not JSON).
std::optional<BackendValue> decode_backend(std::string_view text, std::string& problem);

// The leader's autoscale decision for one pool, shown by every instance.
struct DecisionValue {
  std::uint32_t current = 0;
  std::uint32_t desired = 0;
  double observed_concurrency = 0;
  std::string mode;
  std::string decided_by;
  std::int64_t at_ms = 0;
};
std::string encode(const DecisionValue& value);
std::optional<DecisionValue> decode_decision(std::string_view text);

// An instance's report under its lease: who it is, how far it applied, its
// load per autoscaled pool and its requests in flight on removed backends.
struct MemberValue {
  std::string instance;
  std::string started;  // RFC 3339
  std::int64_t applied_revision = 0;
  struct Load {
    double concurrency = 0;  // in-flight + waiting, 1 s average
    std::uint64_t waiting = 0;  // requests held for lack of a backend now
  };
  std::map<std::string, Load> load;  // by pool
  std::map<std::string, std::uint64_t> draining;  // backend key (full) -> requests in flight
};
std::string encode(const MemberValue& value);
std::optional<MemberValue> decode_member(std::string_view text);

}  // namespace keel::cluster
