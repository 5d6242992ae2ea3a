// The YAML config loader: walks the document once, checks it against the
// schema of INTERFACE.md and collects every problem with its place.
#include "proxy/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

namespace keel::config {

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMaxWorkers = 256;
constexpr std::int64_t kMaxRetries = 10;
constexpr std::int64_t kMaxWeight = 1'000;
constexpr std::int64_t kMaxThreshold = 100;
constexpr std::int64_t kMaxFails = 1'000;
constexpr std::int64_t kMinHeaderBytes = 1'024;
constexpr std::int64_t kMaxHeaderBytes = 1'024 * 1'024;
constexpr std::int64_t kUnbounded = std::numeric_limits<std::int64_t>::max();
// Deadlines are steady_clock::now() + timeout in nanoseconds; a day keeps that
// far from overflow and is longer than any sensible timeout.
constexpr Milliseconds kMaxDuration = 24h;
constexpr std::size_t kMaxFileBytes = 16 * 1'024 * 1'024;
constexpr std::size_t kMaxTokenBytes = 4'096;
constexpr const char* kTokenVariable = "KEEL_ADMIN_TOKEN";

// A node and the place to report it at: its own position or, when it is
// empty, its key's (yaml-cpp puts an empty value at the next token).
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;  // "pools[0].backends[1].weight"; empty for the document
};

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string item_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string in_path(const std::string& path) { return path.empty() ? "at the top level" : "in " + path; }

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return node.Tag() == "!" ? "\"" + node.Scalar() + "\" (a quoted string)" : "'" + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

bool is_plain_integer(const YAML::Node& node) {
  if (!node.IsScalar() || node.Tag() == "!") return false;
  std::string_view text = node.Scalar();
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string duration_text(Milliseconds duration) {
  const std::int64_t ms = duration.count();
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

// A Bearer token travels in one header line: visible ASCII, no spaces.
bool is_token_text(std::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c < '\x7f'; });
}

// Problems name the file, never its content: the token must not reach a log.
std::optional<std::string> read_token_file(const std::string& path, std::string& problem) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    problem = "it is a directory";
    return std::nullopt;
  }
  const std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    problem = "cannot read it: " + std::generic_category().message(errno);
    return std::nullopt;
  }
  std::string text;
  char buffer[1'024];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxTokenBytes) {
      problem = "it is larger than " + std::to_string(kMaxTokenBytes) + " bytes";
      return std::nullopt;
    }
  }
  if (std::ferror(file.get()) != 0) {
    problem = "cannot read it: " + std::generic_category().message(errno);
    return std::nullopt;
  }
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
    text.pop_back();
  if (text.empty()) {
    problem = "it is empty";
    return std::nullopt;
  }
  if (!is_token_text(text)) {
    problem = "the token must be one line of visible ASCII characters, without spaces";
    return std::nullopt;
  }
  return text;
}

bool is_loopback(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  const auto v6 = address.to_v6();
  return v6.is_loopback() || (v6.is_v4_mapped() &&
                              boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).is_loopback());
}

// Whether two sockets could not both bind, or (with SO_REUSEPORT, which the
// listeners set) would silently share connections. [::] is dual-stack.
bool is_same_socket(const boost::asio::ip::tcp::endpoint& a, const boost::asio::ip::tcp::endpoint& b) {
  if (a.port() == 0 || a.port() != b.port()) return false;
  if (a.address() == b.address()) return true;
  const auto covers = [](const boost::asio::ip::address& wildcard, const boost::asio::ip::address& other) {
    return wildcard.is_unspecified() && (wildcard.is_v6() || other.is_v4());
  };
  return covers(a.address(), b.address()) || covers(b.address(), a.address());
}

std::string range_text(std::int64_t min, std::int64_t max) {
  if (max == kUnbounded) return "at least " + std::to_string(min);
  return "between " + std::to_string(min) + " and " + std::to_string(max);
}

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
  // In INTERFACE.md but not implemented yet: refused by name, so that they are
  // neither taken for typos nor silently ignored.
  std::initializer_list<std::string_view> unsupported = {};
};

bool contains(std::initializer_list<std::string_view> list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  void load(const std::vector<YAML::Node>& documents);
  LoadResult result() &&;

 private:
  void error(const YAML::Mark& mark, std::string message);
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
  void load_admin(const Value& value);
  void load_state_file(const Value& value);
  void load_timeouts(const Value& value);
  void load_limits(const Value& value);
  void load_forwarded(const Value& value);
  void load_pools(const Value& value);
  std::optional<Pool> load_pool(const Value& value);
  void load_backends(const Value& value, Pool& pool);
  std::optional<HealthCheck> load_health_check(const Value& value);
  std::optional<Passive> load_passive(const Value& value);
  void load_routes(const Value& value);

  std::string file_;
  Config config_;
  std::vector<ConfigError> errors_;
  // Every pool name written, valid pool or not, with the path of its first
  // use: a route to a pool that has errors of its own is not reported again.
  std::map<std::string, std::string, std::less<>> pool_names_;
};

void Loader::error(const YAML::Mark& mark, std::string message) {
  const bool known = !mark.is_null();
  errors_.push_back({.file = file_,
                     .line = known ? mark.line + 1 : 0,
                     .column = known ? mark.column + 1 : 0,
                     .message = std::move(message)});
}

LoadResult Loader::result() && {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  LoadResult result;
  if (errors_.empty()) result.config = std::move(config_);
  result.errors = std::move(errors_);
  return result;
}

std::optional<Mapping> Loader::mapping(const Value& value, const Keys& keys) {
  if (!value.node.IsMap()) {
    error(value.mark, "expected a mapping " +
                          (value.path.empty() ? "at the top level" : "for " + value.path) + ", got " +
                          describe(value.node));
    return std::nullopt;
  }
  Mapping result(value.mark, value.path);
  std::map<std::string, YAML::Mark, std::less<>> seen;
  for (const auto& entry : value.node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      error(key.Mark(), "expected a key " + in_path(value.path) + ", got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = child_path(value.path, name);
    if (const auto first = seen.find(name); first != seen.end()) {
      error(key.Mark(), "duplicate key '" + name + "' " + in_path(value.path) + " (first at line " +
                            std::to_string(first->second.line + 1) + ")");
      continue;
    }
    seen.emplace(name, key.Mark());
    if (contains(keys.unsupported, name)) {
      error(key.Mark(), "'" + name + "' is not supported yet (" + path + ")");
      continue;
    }
    if (!contains(keys.known, name)) {
      error(key.Mark(), "unknown key '" + name + "' " + in_path(value.path));
      continue;
    }
    const YAML::Node& node = entry.second;
    result.add(name, Value{node, node.IsNull() ? key.Mark() : node.Mark(), path});
  }
  return result;
}

std::optional<Value> Loader::require(const Mapping& mapping, std::string_view key) {
  if (const Value* value = mapping.find(key)) return *value;
  error(mapping.mark(), "missing required key '" + std::string(key) + "' " + in_path(mapping.path()));
  return std::nullopt;
}

std::optional<std::vector<Value>> Loader::list(const Value& value, bool may_be_empty) {
  if (!value.node.IsSequence()) {
    error(value.mark, "expected a list for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  if (value.node.size() == 0 && !may_be_empty) {
    error(value.mark, value.path + " must not be empty");
    return std::nullopt;
  }
  std::vector<Value> items;
  items.reserve(value.node.size());
  for (const auto& node : value.node)
    items.push_back(
        Value{node, node.IsNull() ? value.mark : node.Mark(), item_path(value.path, items.size())});
  return items;
}

std::optional<std::string> Loader::string(const Value& value) {
  if (!value.node.IsScalar()) {
    error(value.mark, "expected a string for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  return value.node.Scalar();
}

std::optional<std::int64_t> Loader::integer(const Value& value, std::int64_t min, std::int64_t max) {
  if (!is_plain_integer(value.node)) {
    error(value.mark, "expected an integer for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  const char* begin = text.data() + (text.front() == '+' ? 1 : 0);
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), number);
  if (ec != std::errc{} || end != text.data() + text.size() || number < min || number > max) {
    error(value.mark, value.path + " must be " + range_text(min, max) + ", got " + text);
    return std::nullopt;
  }
  return number;
}

std::optional<Milliseconds> Loader::duration(const Value& value, bool may_be_zero) {
  if (!value.node.IsScalar()) {
    error(value.mark, "expected a duration string for " + value.path + ", got " + describe(value.node));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  const auto parsed = parse_duration(text);
  if (!parsed) {
    const bool bare_number = !text.empty() && text.find_first_not_of("0123456789.") == std::string::npos;
    if (bare_number)
      error(value.mark, "duration " + text + " for " + value.path + " needs a unit (ms, s, m or h), e.g. '" +
                            text + "s'");
    else
      error(value.mark,
            "invalid duration '" + text + "' for " + value.path +
                ": expected a number and a unit ms, s, m or h, in whole milliseconds, e.g. '250ms' "
                "or '1.5s'");
    return std::nullopt;
  }
  if (*parsed == Milliseconds::zero() && !may_be_zero) {
    error(value.mark, value.path + " must be greater than 0, got " + text);
    return std::nullopt;
  }
  if (*parsed > kMaxDuration) {
    error(value.mark, value.path + " must be at most 24h, got " + text);
    return std::nullopt;
  }
  return parsed;
}

std::optional<Address> Loader::address(const Value& value, bool is_listener) {
  const auto text = string(value);
  if (!text) return std::nullopt;
  std::string problem;
  auto parsed = parse_address(*text, is_listener, problem);
  if (!parsed) error(value.mark, "invalid address '" + *text + "' for " + value.path + ": " + problem);
  return parsed;
}

template <class Enum>
std::optional<Enum> Loader::choice(const Value& value,
                                   std::initializer_list<std::pair<std::string_view, Enum>> options) {
  const auto text = string(value);
  if (!text) return std::nullopt;
  std::string names;
  for (const auto& [name, option] : options) {
    if (name == *text) return option;
    names += names.empty() ? std::string(name) : " or " + std::string(name);
  }
  error(value.mark, "unknown value '" + *text + "' for " + value.path + ": expected " + names);
  return std::nullopt;
}

void Loader::load(const std::vector<YAML::Node>& documents) {
  config_.source = file_;
  if (documents.empty() || documents.front().IsNull()) {
    error(YAML::Mark(), "the config is empty: it needs at least 'listeners' and 'pools'");
    return;
  }
  if (documents.size() > 1) {
    const YAML::Mark mark = documents[1].Mark();
    error(mark.is_null() ? YAML::Mark() : mark, "a config file holds one YAML document; found a second one");
  }
  const auto root = mapping(Value{documents.front(), documents.front().Mark(), ""},
                            Keys{.known = {"workers", "listeners", "admin", "state_file", "timeouts",
                                           "limits", "forwarded", "pools", "routes"}});
  if (!root) return;
  if (const Value* value = root->find("workers")) load_workers(*value);
  if (const auto value = require(*root, "listeners")) load_listeners(*value);
  if (const Value* value = root->find("admin")) load_admin(*value);  // after listeners: checks overlap
  if (const Value* value = root->find("state_file")) load_state_file(*value);
  if (const Value* value = root->find("timeouts")) load_timeouts(*value);
  if (const Value* value = root->find("limits")) load_limits(*value);
  if (const Value* value = root->find("forwarded")) load_forwarded(*value);
  if (const auto value = require(*root, "pools")) load_pools(*value);
  if (const Value* value = root->find("routes")) load_routes(*value);
}

void Loader::load_workers(const Value& value) {
  if (value.node.IsScalar() && value.node.Scalar() == "auto") {
    const auto cores = static_cast<std::int64_t>(std::thread::hardware_concurrency());
    config_.workers = static_cast<unsigned>(std::clamp<std::int64_t>(cores, 1, kMaxWorkers));
    return;
  }
  if (!is_plain_integer(value.node)) {
    error(value.mark, "expected a positive integer or 'auto' for workers, got " + describe(value.node));
    return;
  }
  if (const auto workers = integer(value, 1, kMaxWorkers)) config_.workers = static_cast<unsigned>(*workers);
}

void Loader::load_listeners(const Value& value) {
  const auto items = list(value, false);
  if (!items) return;
  std::vector<std::string> paths;  // of the entries of config_.listeners, for messages
  for (const Value& item : *items) {
    const auto fields = mapping(item, Keys{.known = {"address"}, .unsupported = {"tls"}});
    if (!fields) continue;
    const auto field = require(*fields, "address");
    if (!field) continue;
    auto parsed = address(*field, true);
    if (!parsed) continue;
    // Port 0 asks for an ephemeral port, so two of them never collide.
    const auto same =
        std::find_if(config_.listeners.begin(), config_.listeners.end(), [&](const Listener& other) {
          return parsed->endpoint.port() != 0 && other.address.endpoint == parsed->endpoint;
        });
    if (same != config_.listeners.end()) {
      error(field->mark, "duplicate listener '" + parsed->text + "' (" + item.path + "): same address as " +
                             paths[static_cast<std::size_t>(same - config_.listeners.begin())]);
      continue;
    }
    config_.listeners.push_back(Listener{std::move(*parsed)});
    paths.push_back(item.path);
  }
}

void Loader::load_admin(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"address", "token_file"}});
  if (!fields) return;
  const std::size_t errors_before = errors_.size();
  AdminConfig admin;
  const auto address_field = require(*fields, "address");
  auto parsed = address_field ? address(*address_field, true) : std::nullopt;
  // A token_file that cannot be used is an error of its own; it still means
  // the operator wants a token, so it does not also earn the loopback error.
  bool wants_token = false;
  if (const Value* field = fields->find("token_file")) {
    wants_token = true;
    if (const auto path = string(*field)) {
      admin.token_file = *path;
      std::string problem;
      if (path->empty())
        error(field->mark, field->path + " must not be empty");
      else if (auto token = read_token_file(*path, problem))
        admin.token = std::move(*token);
      else
        error(field->mark, field->path + " '" + *path + "': " + problem);
    }
  } else if (const char* token = std::getenv(kTokenVariable); token != nullptr && *token != '\0') {
    wants_token = true;
    if (is_token_text(token))
      admin.token = token;
    else
      error(value.mark,
            std::string(kTokenVariable) + " must be one line of visible ASCII characters, without spaces");
  }
  if (parsed) {
    if (!wants_token && !is_loopback(parsed->endpoint.address()))
      error(address_field->mark, "admin.address " + parsed->text +
                                     " is not a loopback address: set admin.token_file or " + kTokenVariable);
    const auto same =
        std::find_if(config_.listeners.begin(), config_.listeners.end(), [&](const Listener& listener) {
          return is_same_socket(listener.address.endpoint, parsed->endpoint);
        });
    if (same != config_.listeners.end())
      error(address_field->mark, "admin.address " + parsed->text + " overlaps the listener " +
                                     same->address.text + ": the admin API needs its own port");
    admin.address = std::move(*parsed);
  }
  if (errors_.size() == errors_before) config_.admin = std::move(admin);
}

// Only the directory is checked: the file itself appears with the first change.
void Loader::load_state_file(const Value& value) {
  const auto text = string(value);
  if (!text) return;
  if (text->empty()) {
    error(value.mark, "state_file must not be empty");
    return;
  }
  const std::filesystem::path path(*text);
  std::filesystem::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  std::error_code ec;
  if (!path.has_filename() || std::filesystem::is_directory(path, ec)) {
    error(value.mark, "state_file '" + *text + "' must name a file, not a directory");
    return;
  }
  if (!std::filesystem::is_directory(directory, ec)) {
    const bool exists = std::filesystem::exists(directory, ec);
    error(value.mark, "the directory of state_file '" + *text + "' " +
                          (exists ? "is not a directory: " : "does not exist: ") + directory.string());
    return;
  }
  config_.state_file = *text;
}

void Loader::load_timeouts(const Value& value) {
  const auto fields = mapping(
      value, Keys{.known = {"connect", "client_header", "upstream_header", "idle", "shutdown", "drain"}});
  if (!fields) return;
  // A zero connect, header or idle timeout would fail every request; zero
  // shutdown or drain just means "do not wait".
  const std::pair<std::string_view, Milliseconds*> nonzero[] = {
      {"connect", &config_.timeouts.connect},
      {"client_header", &config_.timeouts.client_header},
      {"upstream_header", &config_.timeouts.upstream_header},
      {"idle", &config_.timeouts.idle},
  };
  const std::pair<std::string_view, Milliseconds*> may_be_zero[] = {
      {"shutdown", &config_.timeouts.shutdown},
      {"drain", &config_.timeouts.drain},
  };
  for (const auto& [key, target] : nonzero)
    if (const Value* field = fields->find(key))
      if (const auto parsed = duration(*field, false)) *target = *parsed;
  for (const auto& [key, target] : may_be_zero)
    if (const Value* field = fields->find(key))
      if (const auto parsed = duration(*field, true)) *target = *parsed;
}

void Loader::load_limits(const Value& value) {
  const auto fields =
      mapping(value, Keys{.known = {"max_header_bytes", "max_body_bytes", "max_connections"}});
  if (!fields) return;
  Limits& limits = config_.limits;
  if (const Value* field = fields->find("max_header_bytes"))
    if (const auto n = integer(*field, kMinHeaderBytes, kMaxHeaderBytes))
      limits.max_header_bytes = static_cast<std::size_t>(*n);
  if (const Value* field = fields->find("max_body_bytes"))
    if (const auto n = integer(*field, 0, kUnbounded)) limits.max_body_bytes = static_cast<std::uint64_t>(*n);
  if (const Value* field = fields->find("max_connections"))
    if (const auto n = integer(*field, 1, kUnbounded)) limits.max_connections = static_cast<std::size_t>(*n);
}

void Loader::load_forwarded(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"mode"}});
  if (!fields) return;
  if (const Value* field = fields->find("mode"))
    if (const auto mode = choice<ForwardedMode>(
            *field, {{"append", ForwardedMode::append}, {"replace", ForwardedMode::replace}}))
      config_.forwarded_mode = *mode;
}

void Loader::load_pools(const Value& value) {
  const auto items = list(value, false);
  if (!items) return;
  for (const Value& item : *items)
    if (auto pool = load_pool(item)) config_.pools.push_back(std::move(*pool));
}

std::optional<Pool> Loader::load_pool(const Value& value) {
  const auto fields =
      mapping(value, Keys{.known = {"name", "balance", "retries", "backends", "health_check", "passive"},
                          .unsupported = {"autoscale"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  Pool pool;
  if (const auto field = require(*fields, "name")) {
    if (const auto name = string(*field)) {
      pool.name = *name;
      const bool valid_characters = std::all_of(name->begin(), name->end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.';
      });
      if (name->empty()) {
        error(field->mark, field->path + " must not be empty");
      } else if (!valid_characters) {
        // Pool names appear in admin URLs and metric labels.
        error(field->mark,
              field->path + " may contain only letters, digits, '-', '_' and '.', got '" + *name + "'");
      } else if (const auto [first, inserted] = pool_names_.emplace(*name, value.path); !inserted) {
        error(field->mark,
              "duplicate pool name '" + *name + "' (" + field->path + "); the first is " + first->second);
      }
    }
  }
  if (const Value* field = fields->find("balance"))
    if (const auto balance = choice<Balance>(
            *field, {{"round_robin", Balance::round_robin}, {"least_conn", Balance::least_conn}}))
      pool.balance = *balance;
  if (const Value* field = fields->find("retries"))
    if (const auto retries = integer(*field, 0, kMaxRetries))
      pool.retries = static_cast<std::uint32_t>(*retries);
  if (const Value* field = fields->find("backends")) load_backends(*field, pool);
  if (const Value* field = fields->find("health_check")) pool.health_check = load_health_check(*field);
  if (const Value* field = fields->find("passive")) pool.passive = load_passive(*field);
  if (errors_.size() != errors_before) return std::nullopt;
  return pool;
}

// An empty list is valid: backends may be added at run time.
void Loader::load_backends(const Value& value, Pool& pool) {
  const auto items = list(value, true);
  if (!items) return;
  std::vector<std::string> paths;  // of the backends in pool.backends, for messages
  for (const Value& item : *items) {
    const auto fields = mapping(item, Keys{.known = {"address", "weight"}});
    if (!fields) continue;
    Backend backend;
    const auto field = require(*fields, "address");
    auto parsed = field ? address(*field, false) : std::nullopt;
    if (const Value* weight_field = fields->find("weight"))
      if (const auto weight = integer(*weight_field, 1, kMaxWeight))
        backend.weight = static_cast<std::uint32_t>(*weight);
    if (!parsed) continue;
    // By endpoint: "localhost:8081" and "127.0.0.1:8081" are one backend.
    const auto same = std::find_if(pool.backends.begin(), pool.backends.end(), [&](const Backend& other) {
      return other.address.endpoint == parsed->endpoint;
    });
    if (same != pool.backends.end()) {
      error(field->mark, "duplicate backend '" + parsed->text + "' (" + item.path + "): same address as " +
                             paths[static_cast<std::size_t>(same - pool.backends.begin())]);
      continue;
    }
    backend.address = std::move(*parsed);
    pool.backends.push_back(std::move(backend));
    paths.push_back(item.path);
  }
}

std::optional<HealthCheck> Loader::load_health_check(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"path", "interval", "timeout", "healthy_threshold",
                                                    "unhealthy_threshold", "expect_status"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  HealthCheck check;
  if (const Value* field = fields->find("path")) {
    if (const auto path = string(*field)) {
      // It goes into a request line as it is.
      const bool is_plain_ascii = std::all_of(path->begin(), path->end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte > ' ' && byte < 0x7f;
      });
      if (!is_plain_ascii)
        error(field->mark, field->path +
                               " must not contain spaces, line breaks, control or non-ASCII characters "
                               "(percent-encode them)");
      else if (!path->starts_with('/'))
        error(field->mark, field->path + " must start with '/', got '" + *path + "'");
      else
        check.path = *path;
    }
  }
  const Value* interval = fields->find("interval");
  const Value* timeout = fields->find("timeout");
  bool durations_valid = true;
  for (const auto& [field, target] :
       {std::pair(interval, &check.interval), std::pair(timeout, &check.timeout)}) {
    if (field == nullptr) continue;
    if (const auto parsed = duration(*field, false))
      *target = *parsed;
    else
      durations_valid = false;
  }
  // A check that outlives its interval would overlap the next one.
  if (durations_valid && check.timeout > check.interval) {
    const Value* at = timeout != nullptr ? timeout : interval;
    error(at->mark, value.path + ".timeout (" + duration_text(check.timeout) +
                        (timeout ? "" : ", the default") + ") must not be longer than " + value.path +
                        ".interval (" + duration_text(check.interval) + (interval ? "" : ", the default") +
                        ")");
  }
  const std::pair<std::string_view, std::uint32_t*> thresholds[] = {
      {"healthy_threshold", &check.healthy_threshold},
      {"unhealthy_threshold", &check.unhealthy_threshold},
  };
  for (const auto& [key, target] : thresholds)
    if (const Value* field = fields->find(key))
      if (const auto n = integer(*field, 1, kMaxThreshold)) *target = static_cast<std::uint32_t>(*n);
  if (const Value* field = fields->find("expect_status")) {
    if (const auto text = string(*field)) {
      std::string problem;
      if (const auto range = parse_status_range(*text, problem)) {
        check.expect_min = range->min;
        check.expect_max = range->max;
      } else {
        error(field->mark, "invalid status range '" + *text + "' for " + field->path + ": " + problem);
      }
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return check;
}

std::optional<Passive> Loader::load_passive(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"max_fails", "fail_timeout"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  Passive passive;
  if (const Value* field = fields->find("max_fails"))
    if (const auto n = integer(*field, 1, kMaxFails)) passive.max_fails = static_cast<std::uint32_t>(*n);
  if (const Value* field = fields->find("fail_timeout"))
    if (const auto parsed = duration(*field, false)) passive.fail_timeout = *parsed;
  if (errors_.size() != errors_before) return std::nullopt;
  return passive;
}

void Loader::load_routes(const Value& value) {
  const auto items = list(value, true);
  if (!items) return;
  for (const Value& item : *items) {
    const auto fields = mapping(item, Keys{.known = {"host", "path_prefix", "pool"}});
    if (!fields) continue;
    const std::size_t errors_before = errors_.size();
    Route route;
    const Value* host = fields->find("host");
    const Value* prefix = fields->find("path_prefix");
    if (host == nullptr && prefix == nullptr)
      error(item.mark, item.path + " needs a 'host' or a 'path_prefix'");
    if (host != nullptr) {
      if (const auto text = string(*host)) {
        route.host = *text;
        if (text->empty())
          error(host->mark, host->path + " must not be empty");
        else if (text->find('*') != std::string::npos)
          error(host->mark, host->path + ": wildcard hosts are not supported, got '" + *text + "'");
        else if (text->find_first_of(" \t/") != std::string::npos)
          error(host->mark, host->path + " must be a host name, got '" + *text + "'");
      }
    }
    if (prefix != nullptr) {
      if (const auto text = string(*prefix)) {
        route.path_prefix = *text;
        if (!text->starts_with('/'))
          error(prefix->mark, prefix->path + " must start with '/', got '" + *text + "'");
      }
    }
    if (const auto field = require(*fields, "pool")) {
      if (const auto name = string(*field)) {
        route.pool = *name;
        const auto pool = std::find_if(config_.pools.begin(), config_.pools.end(),
                                       [&](const Pool& candidate) { return candidate.name == *name; });
        if (pool != config_.pools.end())
          route.pool_index = static_cast<std::size_t>(pool - config_.pools.begin());
        else if (!pool_names_.contains(*name))
          error(field->mark, "unknown pool '" + *name + "' for " + field->path);
      }
    }
    if (errors_.size() == errors_before) config_.routes.push_back(std::move(route));
  }
}

LoadResult single_error(const std::string& file, int line, int column, std::string message) {
  LoadResult result;
  result.errors.push_back({.file = file, .line = line, .column = column, .message = std::move(message)});
  return result;
}

}  // namespace

LoadResult parse_config(std::string_view yaml_text, const std::string& file_name) {
  try {
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAll(std::string(yaml_text));
    } catch (const YAML::ParserException& syntax) {
      const bool known = !syntax.mark.is_null();
      return single_error(file_name, known ? syntax.mark.line + 1 : 0, known ? syntax.mark.column + 1 : 0,
                          "YAML syntax error: " + syntax.msg);
    }
    Loader loader(file_name);
    loader.load(documents);
    return std::move(loader).result();
  } catch (const std::exception& unexpected) {
    return single_error(file_name, 0, 0,
                        std::string("internal error while loading the config: ") + unexpected.what());
  } catch (...) {
    return single_error(file_name, 0, 0, "internal error while loading the config");
  }
}

LoadResult load_config_file(const std::string& path) {
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return single_error(path, 0, 0, "cannot read the config: it is a directory");
    const std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"),
                                                                  &std::fclose);
    if (!file)
      return single_error(path, 0, 0, "cannot read the config: " + std::generic_category().message(errno));
    std::string text;
    char buffer[64 * 1024];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
      text.append(buffer, n);
      if (text.size() > kMaxFileBytes)
        return single_error(path, 0, 0, "cannot read the config: larger than 16 MiB");
    }
    if (std::ferror(file.get()) != 0)
      return single_error(path, 0, 0, "cannot read the config: " + std::generic_category().message(errno));
    return parse_config(text, path);
  } catch (...) {
    return single_error(path, 0, 0, "cannot read the config");
  }
}

}  // namespace keel::config
