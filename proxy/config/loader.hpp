// Private to proxy/config: the YAML walk shared by the loader's sources.
// config.cpp holds the core schema and the entry points, loader.cpp the
// checked accessors, admin_config.cpp and pool_checks.cpp their sections.
#pragma once

#include "proxy/config/config.hpp"
#include "proxy/config/suggest.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::config::detail {

inline constexpr std::int64_t kUnbounded = std::numeric_limits<std::int64_t>::max();

// A one-line secret (admin token, etcd password) from a file: trailing
// whitespace dropped, visible ASCII without spaces. Problems name the file,
// never its content.
std::optional<std::string> read_secret_file(const std::string& path, std::string& problem);

// A node and the place to report it at: its own position or, when it is
// empty, its key's (yaml-cpp puts an empty value at the next token).
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;  // "pools[0].backends[1].weight"; empty for the document
};

// "a list", "a mapping", "'text'" or "nothing", for messages.
std::string describe(const YAML::Node& node);

// "a or b", "a, b or c".
std::string one_of(const std::vector<std::string_view>& names);

// An unquoted scalar of digits with an optional sign.
bool is_plain_integer(const YAML::Node& node);

// A mapping whose keys have been checked against its schema.
class Mapping {
 public:
  Mapping(YAML::Mark mark, std::string path) : mark_(mark), path_(std::move(path)) {}

  void add(const std::string& key, Value value) { fields_.emplace(key, std::move(value)); }
  const Value* find(std::string_view key) const {
    const auto it = fields_.find(key);
    return it == fields_.end() ? nullptr : &it->second;
  }
  const YAML::Mark& mark() const { return mark_; }
  const std::string& path() const { return path_; }

 private:
  YAML::Mark mark_;
  std::string path_;
  std::map<std::string, Value, std::less<>> fields_;
};

struct Keys {
  std::initializer_list<std::string_view> known;
  // In the documented schema but not implemented yet: refused by name, so that they are
  // neither taken for typos nor silently ignored.
  std::initializer_list<std::string_view> unsupported = {};
};

// Walks the document once, collecting every problem with its place. Each
// accessor reports its own error and returns nullopt on failure.
class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  void load(const std::vector<YAML::Node>& documents);
  LoadResult result() &&;

 private:
  void error(const YAML::Mark& mark, std::string message);
  void warning(const YAML::Mark& mark, std::string message);
  std::optional<Mapping> mapping(const Value& value, const Keys& keys);
  std::optional<Value> require(const Mapping& mapping, std::string_view key);
  std::optional<std::vector<Value>> list(const Value& value, bool may_be_empty);
  std::optional<std::string> string(const Value& value);
  std::optional<std::int64_t> integer(const Value& value, std::int64_t min, std::int64_t max);
  std::optional<Milliseconds> duration(const Value& value, bool may_be_zero);
  std::optional<Address> address(const Value& value, bool is_listener);
  template <class Enum>
  std::optional<Enum> choice(const Value& value,
                             std::initializer_list<std::pair<std::string_view, Enum>> options);

  void load_workers(const Value& value);
  void load_listeners(const Value& value);
  std::optional<ListenerTls> load_listener_tls(const Value& value);
  std::optional<CertificatePair> load_certificate_pair(const Mapping& fields);
  std::optional<UpstreamTls> load_upstream_tls(const Value& value);
  void load_admin(const Value& value);
  void load_state_file(const Value& value);
  void load_cluster(const Value& value);
  std::optional<EtcdEndpoint> etcd_endpoint(const Value& value);
  std::optional<EtcdTls> load_etcd_tls(const Value& value);
  void load_timeouts(const Value& value);
  void load_limits(const Value& value);
  void load_forwarded(const Value& value);
  void load_access_log(const Value& value);
  void load_log(const Value& value);
  void load_pools(const Value& value);
  std::optional<Pool> load_pool(const Value& value);
  void load_backends(const Value& value, Pool& pool);
  std::optional<HealthCheck> load_health_check(const Value& value);
  std::optional<Passive> load_passive(const Value& value);
  std::optional<Autoscale> load_autoscale(const Value& value);
  std::optional<double> positive_number(const Value& value);
  void load_routes(const Value& value);

  std::string file_;
  Config config_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
  // Every pool name written, valid pool or not, with the path of its first
  // use: a route to a pool that has errors of its own is not reported again.
  std::map<std::string, std::string, std::less<>> pool_names_;
};

template <class Enum>
std::optional<Enum> Loader::choice(const Value& value,
                                   std::initializer_list<std::pair<std::string_view, Enum>> options) {
  const auto text = string(value);
  if (!text) return std::nullopt;
  std::vector<std::string_view> names;
  for (const auto& [name, option] : options) {
    if (name == *text) return option;
    names.push_back(name);
  }
  error(value.mark, "unknown value '" + *text + "' for " + value.path + ": expected " + one_of(names) +
                        did_you_mean(*text, names));
  return std::nullopt;
}

}  // namespace keel::config::detail
