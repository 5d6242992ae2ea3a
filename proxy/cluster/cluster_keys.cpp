#include "proxy/cluster/cluster_keys.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace keel::cluster {
namespace {

namespace json = boost::json;

constexpr std::uint32_t kMinWeight = 1;
constexpr std::uint32_t kMaxWeight = 1'000;

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

std::optional<std::int64_t> integer(const json::object& object, std::string_view field) {
  const auto* value = object.if_contains(field);
  if (!value) return std::nullopt;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64() && value->as_uint64() <= INT64_MAX) return static_cast<std::int64_t>(value->as_uint64());
  return std::nullopt;
}

std::optional<double> number(const json::object& object, std::string_view field) {
  const auto* value = object.if_contains(field);
  if (!value) return std::nullopt;
  if (value->is_double()) return value->as_double();
  if (auto whole = integer(object, field)) return static_cast<double>(*whole);
  return std::nullopt;
}

std::string text(const json::object& object, std::string_view field) {
  const auto* value = object.if_contains(field);
  return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

}  // namespace

std::string KeyLayout::pool_backends(std::string_view pool) const {
  return pools() + std::string(pool) + "/backends/";
}
std::string KeyLayout::backend(std::string_view pool, std::string_view endpoint) const {
  return pool_backends(pool) + std::string(endpoint);
}
std::string KeyLayout::seeded(std::string_view pool) const { return pools() + std::string(pool) + "/seeded"; }
std::string KeyLayout::autoscale(std::string_view pool) const { return pools() + std::string(pool) + "/autoscale"; }
std::string KeyLayout::member(std::string_view instance) const { return members() + std::string(instance); }

std::optional<KeyLayout::PoolKey> KeyLayout::parse_pool_key(std::string_view key) const {
  const std::string root = pools();
  if (!key.starts_with(root)) return std::nullopt;
  key.remove_prefix(root.size());
  const auto slash = key.find('/');
  if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
  PoolKey out{.kind = PoolKey::Kind::backend, .pool = std::string(key.substr(0, slash)), .endpoint = {}};
  const std::string_view rest = key.substr(slash + 1);
  if (rest == "seeded") {
    out.kind = PoolKey::Kind::seeded;
    return out;
  }
  if (rest == "autoscale") {
    out.kind = PoolKey::Kind::autoscale;
    return out;
  }
  constexpr std::string_view kBackends = "backends/";
  if (!rest.starts_with(kBackends) || rest.size() == kBackends.size()) return std::nullopt;
  out.endpoint = std::string(rest.substr(kBackends.size()));
  return out;
}

const char* to_string(BackendState state) {
  switch (state) {
    case BackendState::draining: return "draining";
    case BackendState::removing: return "removing";
    default: return "active";
  }
}

std::string encode(const BackendValue& value) {
  json::object out;
  out["address"] = value.address;
  out["weight"] = value.weight;
  out["state"] = to_string(value.state);
  if (value.state == BackendState::removing) out["removed_at"] = value.removed_at_ms;
  return json::serialize(out);
}

std::optional<BackendValue> decode_backend(std::string_view text_value, std::string& problem) {
  const auto object = parse_object(text_value);
  if (!object) {
    problem = "not a JSON object";
    return std::nullopt;
  }
  BackendValue out;
  out.address = text(*object, "address");
  if (out.address.empty()) {
    problem = "no \"address\"";
    return std::nullopt;
  }
  if (object->contains("weight")) {
    const auto weight = integer(*object, "weight");
    if (!weight || *weight < kMinWeight || *weight > kMaxWeight) {
      problem = "\"weight\" must be an integer from 1 to 1000";
      return std::nullopt;
    }
    out.weight = static_cast<std::uint32_t>(*weight);
  }
  const std::string state = object->contains("state") ? text(*object, "state") : "active";
  if (state == "active")
    out.state = BackendState::active;
  else if (state == "draining")
    out.state = BackendState::draining;
  else if (state == "removing")
    out.state = BackendState::removing;
  else {
    problem = "\"state\" must be \"active\", \"draining\" or \"removing\"";
    return std::nullopt;
  }
  out.removed_at_ms = integer(*object, "removed_at").value_or(0);
  return out;
}

std::string encode(const DecisionValue& value) {
  json::object out;
  out["current"] = value.current;
  out["desired"] = value.desired;
  out["observed_concurrency"] = value.observed_concurrency;
  out["mode"] = value.mode;
  out["decided_by"] = value.decided_by;
  out["at"] = value.at_ms;
  return json::serialize(out);
}

std::optional<DecisionValue> decode_decision(std::string_view text_value) {
  const auto object = parse_object(text_value);
  if (!object) return std::nullopt;
  const auto current = integer(*object, "current");
  const auto desired = integer(*object, "desired");
  if (!current || !desired || *current < 0 || *desired < 0 || *desired > UINT32_MAX || *current > UINT32_MAX)
    return std::nullopt;
  return DecisionValue{.current = static_cast<std::uint32_t>(*current),
                       .desired = static_cast<std::uint32_t>(*desired),
                       .observed_concurrency = number(*object, "observed_concurrency").value_or(0),
                       .mode = text(*object, "mode"),
                       .decided_by = text(*object, "decided_by"),
                       .at_ms = integer(*object, "at").value_or(0)};
}

std::string encode(const MemberValue& value) {
  json::object out;
  out["instance"] = value.instance;
  out["started"] = value.started;
  out["applied_revision"] = value.applied_revision;
  json::object load;
  for (const auto& [pool, entry] : value.load) {
    json::object item;
    item["concurrency"] = entry.concurrency;
    item["waiting"] = entry.waiting;
    load[pool] = std::move(item);
  }
  out["load"] = std::move(load);
  json::object draining;
  for (const auto& [key, in_flight] : value.draining) draining[key] = in_flight;
  out["draining"] = std::move(draining);
  return json::serialize(out);
}

std::optional<MemberValue> decode_member(std::string_view text_value) {
  const auto object = parse_object(text_value);
  if (!object) return std::nullopt;
  MemberValue out;
  out.instance = text(*object, "instance");
  if (out.instance.empty()) return std::nullopt;
  out.started = text(*object, "started");
  out.applied_revision = integer(*object, "applied_revision").value_or(0);
  if (const auto* load = object->if_contains("load"); load && load->is_object()) {
    for (const auto& [pool, entry] : load->as_object()) {
      if (!entry.is_object()) continue;
      const auto& item = entry.as_object();
      out.load[std::string(pool)] = {.concurrency = std::max(0.0, number(item, "concurrency").value_or(0)),
                                     .waiting = static_cast<std::uint64_t>(
                                         std::max<std::int64_t>(0, integer(item, "waiting").value_or(0)))};
    }
  }
  if (const auto* draining = object->if_contains("draining"); draining && draining->is_object()) {
    for (const auto& [key, count] : draining->as_object()) {
      if (count.is_int64() && count.as_int64() >= 0)
        out.draining[std::string(key)] = static_cast<std::uint64_t>(count.as_int64());
      else if (count.is_uint64())
        out.draining[std::string(key)] = count.as_uint64();
    }
  }
  return out;
}

}  // namespace keel::cluster
