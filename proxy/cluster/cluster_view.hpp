// The part of etcd this instance has applied: every key under pools/ with its
// revisions, and the revision it is current to. Pure: the agent feeds it what
// the range and the watch return, and asks which pools changed.
#pragma once

#include "proxy/cluster/cluster_keys.hpp"
#include "proxy/cluster/etcd_codec.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace keel::cluster {

class ClusterView {
 public:
  explicit ClusterView(KeyLayout layout) : layout_(std::move(layout)) {}

  // Replaces everything with a range taken at `revision`; returns the pools
  // whose keys differ from before (one atomic swap of the state).
  std::set<std::string> reset(const std::vector<KeyValue>& kvs, std::int64_t revision);
  // Applies a watch batch; events not newer than the applied revision are
  // ignored (a resumed watch may repeat some). Returns the pools changed.
  std::set<std::string> apply(const std::vector<Event>& events);
  // A progress notification or an empty batch: current up to `revision`.
  void advance(std::int64_t revision);

  std::int64_t revision() const { return revision_; }
  const KeyValue* find(const std::string& key) const;

  struct Backend {
    std::string key;       // the full etcd key
    std::string endpoint;  // the key's last part
    BackendValue value;
    std::int64_t mod_revision = 0;
  };
  // The pool's backends in key order; entries whose value is not a backend
  // are left out and reported in `problems` (key: why).
  std::vector<Backend> backends(const std::string& pool, std::vector<std::string>* problems = nullptr) const;
  bool is_seeded(const std::string& pool) const;
  std::optional<DecisionValue> decision(const std::string& pool) const;
  // Every key with its mod revision: what a range must show if the watch kept up.
  std::map<std::string, std::int64_t> fingerprint() const;

 private:
  std::optional<std::string> pool_of(const std::string& key) const;

  KeyLayout layout_;
  std::map<std::string, KeyValue> keys_;
  std::int64_t revision_ = 0;
};

}  // namespace keel::cluster
