#include "proxy/cluster/cluster_view.hpp"

namespace keel::cluster {

std::optional<std::string> ClusterView::pool_of(const std::string& key) const {
  auto parsed = layout_.parse_pool_key(key);
  if (!parsed) return std::nullopt;
  return parsed->pool;
}

std::set<std::string> ClusterView::reset(const std::vector<KeyValue>& kvs, std::int64_t revision) {
  std::map<std::string, KeyValue> next;
  for (const auto& kv : kvs) next.emplace(kv.key, kv);
  std::set<std::string> changed;
  const auto note = [&](const std::string& key) {
    if (auto pool = pool_of(key)) changed.insert(*pool);
  };
  for (const auto& [key, kv] : keys_) {
    const auto found = next.find(key);
    if (found == next.end() || found->second.mod_revision != kv.mod_revision || found->second.value != kv.value)
      note(key);
  }
  for (const auto& [key, kv] : next)
    if (!keys_.count(key)) note(key);
  keys_ = std::move(next);
  revision_ = revision;
  return changed;
}

std::set<std::string> ClusterView::apply(const std::vector<Event>& events) {
  std::set<std::string> changed;
  std::int64_t newest = revision_;
  for (const auto& event : events) {
    if (event.kv.mod_revision <= revision_) continue;
    newest = std::max(newest, event.kv.mod_revision);
    if (event.deleted)
      keys_.erase(event.kv.key);
    else
      keys_[event.kv.key] = event.kv;
    if (auto pool = pool_of(event.kv.key)) changed.insert(*pool);
  }
  revision_ = newest;
  return changed;
}

void ClusterView::advance(std::int64_t revision) { revision_ = std::max(revision_, revision); }

const KeyValue* ClusterView::find(const std::string& key) const {
  const auto found = keys_.find(key);
  return found == keys_.end() ? nullptr : &found->second;
}

std::vector<ClusterView::Backend> ClusterView::backends(const std::string& pool,
                                                        std::vector<std::string>* problems) const {
  std::vector<Backend> out;
  const std::string from = layout_.pool_backends(pool);
  for (auto it = keys_.lower_bound(from); it != keys_.end() && it->first.starts_with(from); ++it) {
    std::string problem;
    auto value = decode_backend(it->second.value, problem);
    if (!value) {
      if (problems) problems->push_back(it->first + ": " + problem);
      continue;
    }
    out.push_back({.key = it->first,
                   .endpoint = it->first.substr(from.size()),
                   .value = std::move(*value),
                   .mod_revision = it->second.mod_revision});
  }
  return out;
}

bool ClusterView::is_seeded(const std::string& pool) const { return keys_.count(layout_.seeded(pool)) > 0; }

std::optional<DecisionValue> ClusterView::decision(const std::string& pool) const {
  const auto* kv = find(layout_.autoscale(pool));
  if (!kv) return std::nullopt;
  return decode_decision(kv->value);
}

std::map<std::string, std::int64_t> ClusterView::fingerprint() const {
  std::map<std::string, std::int64_t> out;
  for (const auto& [key, kv] : keys_) out.emplace(key, kv.mod_revision);
  return out;
}

}  // namespace keel::cluster
