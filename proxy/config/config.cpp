// The YAML config loader: walks the document once, checks it against the
// schema of docs/configuration.md and collects every problem with its place. This file
// holds the entry points and the core schema; admin_config.cpp and
// pool_checks.cpp hold their sections, loader.cpp the accessors all share.
#include "proxy/config/config.hpp"

#include "proxy/config/loader.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

namespace keel::config {

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace detail {
namespace {

constexpr std::int64_t kMaxWorkers = 256;
constexpr std::int64_t kMaxRetries = 10;
constexpr std::int64_t kMinHeaderBytes = 1'024;
constexpr std::int64_t kMaxHeaderBytes = 1'024 * 1'024;

}  // namespace

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
                                           "limits", "forwarded", "pools", "routes", "access_log", "log",
                                           "cluster"}});
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
  if (const Value* value = root->find("access_log")) load_access_log(*value);
  if (const Value* value = root->find("log")) load_log(*value);
  if (const Value* value = root->find("cluster")) load_cluster(*value);
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
    const auto fields = mapping(item, Keys{.known = {"address", "tls", "reuse_port", "http2"}});
    if (!fields) continue;
    const Value* tls_field = fields->find("tls");
    const auto tls = tls_field ? load_listener_tls(*tls_field) : std::nullopt;
    const auto field = require(*fields, "address");
    if (!field) continue;
    auto parsed = address(*field, true);
    if (!parsed || (tls_field && !tls)) continue;
    // Port 0 asks for an ephemeral port, so two of them never collide.
    const auto same =
        std::find_if(config_.listeners.begin(), config_.listeners.end(), [&](const Listener& other) {
          return parsed->endpoint.port() != 0 && same_endpoint(other.address.endpoint, parsed->endpoint);
        });
    if (same != config_.listeners.end()) {
      error(field->mark, "duplicate listener '" + parsed->text + "' (" + item.path + "): same address as " +
                             paths[static_cast<std::size_t>(same - config_.listeners.begin())]);
      continue;
    }
    bool reuse_port = false;
    if (const Value* share = fields->find("reuse_port"))
      if (const auto on = choice<bool>(*share, {{"true", true}, {"false", false}})) reuse_port = *on;
    bool http2 = true;
    if (const Value* h2 = fields->find("http2"))
      if (const auto on = choice<bool>(*h2, {{"true", true}, {"false", false}})) http2 = *on;
    config_.listeners.push_back(Listener{std::move(*parsed), tls, reuse_port, http2});
    paths.push_back(item.path);
  }
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
      mapping(value, Keys{.known = {"max_header_bytes", "max_body_bytes", "max_connections",
                                     "http2_max_concurrent_streams"}});
  if (!fields) return;
  Limits& limits = config_.limits;
  if (const Value* field = fields->find("max_header_bytes"))
    if (const auto n = integer(*field, kMinHeaderBytes, kMaxHeaderBytes))
      limits.max_header_bytes = static_cast<std::size_t>(*n);
  if (const Value* field = fields->find("max_body_bytes"))
    if (const auto n = integer(*field, 0, kUnbounded)) limits.max_body_bytes = static_cast<std::uint64_t>(*n);
  if (const Value* field = fields->find("max_connections"))
    if (const auto n = integer(*field, 1, kUnbounded)) limits.max_connections = static_cast<std::size_t>(*n);
  // At least 1 (0 would refuse every request); 2^31-1 is the protocol's own bound.
  if (const Value* field = fields->find("http2_max_concurrent_streams"))
    if (const auto n = integer(*field, 1, 2'147'483'647))
      limits.http2_max_concurrent_streams = static_cast<std::uint32_t>(*n);
}

void Loader::load_forwarded(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"mode"}});
  if (!fields) return;
  if (const Value* field = fields->find("mode"))
    if (const auto mode = choice<ForwardedMode>(
            *field, {{"append", ForwardedMode::append}, {"replace", ForwardedMode::replace}}))
      config_.forwarded_mode = *mode;
}

void Loader::load_access_log(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"path", "format"}});
  if (!fields) return;
  AccessLog log;
  if (const auto field = require(*fields, "path")) {
    const auto path = string(*field);
    if (!path) return;
    if (path->empty()) {
      error(field->mark, "access_log.path must be a file or 'stdout'");
      return;
    }
    log.path = *path;
  } else {
    return;
  }
  if (const Value* field = fields->find("format")) {
    const auto format = choice<AccessLogFormat>(
        *field, {{"combined", AccessLogFormat::combined}, {"json", AccessLogFormat::json}});
    if (!format) return;
    log.format = *format;
  }
  config_.access_log = std::move(log);
}

void Loader::load_log(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"level", "format"}});
  if (!fields) return;
  if (const Value* field = fields->find("level"))
    if (const auto level = choice<log::Level>(*field, {{"debug", log::Level::debug},
                                                       {"info", log::Level::info},
                                                       {"warn", log::Level::warn},
                                                       {"error", log::Level::error}}))
      config_.log.level = *level;
  if (const Value* field = fields->find("format"))
    if (const auto format = choice<log::Format>(*field, {{"text", log::Format::text}, {"json", log::Format::json}}))
      config_.log.format = *format;
}

void Loader::load_pools(const Value& value) {
  const auto items = list(value, false);
  if (!items) return;
  for (const Value& item : *items)
    if (auto pool = load_pool(item)) config_.pools.push_back(std::move(*pool));
}

std::optional<Pool> Loader::load_pool(const Value& value) {
  const auto fields =
      mapping(value, Keys{.known = {"name", "balance", "retries", "backends", "health_check", "passive",
                                    "autoscale", "tls", "resolve"}});
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
  if (const Value* field = fields->find("autoscale")) pool.autoscale = load_autoscale(*field);
  if (const Value* field = fields->find("tls")) pool.tls = load_upstream_tls(*field);
  if (const Value* field = fields->find("resolve")) {
    if (const auto interval = duration(*field, false)) {
      if (*interval < kMinResolveInterval)
        error(field->mark, field->path + " must be at least 100ms, got " + field->node.Scalar());
      else
        pool.resolve = *interval;
    }
  }
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
      if (const auto weight = integer(*weight_field, kMinWeight, kMaxWeight))
        backend.weight = static_cast<std::uint32_t>(*weight);
    if (!parsed) continue;
    // By endpoint: "localhost:8081" and "127.0.0.1:8081" are one backend.
    const auto same = std::find_if(pool.backends.begin(), pool.backends.end(), [&](const Backend& other) {
      return same_endpoint(other.address.endpoint, parsed->endpoint);
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

}  // namespace detail

namespace {

constexpr std::size_t kMaxFileBytes = 16 * 1'024 * 1'024;

// Where each document starts (the mark of its first token), without building it.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// YAML::LoadAll, except that a document which consumes no token is a syntax
// error: yaml-cpp 0.7 reads such a document (a ',' where a node should start)
// as null without moving on, and LoadAll then loops forever, allocating a null
// document each time. Found by fuzzing. Throws YAML::ParserException.
std::vector<YAML::Node> load_documents(const std::string& text) {
  std::istringstream input(text);
  YAML::Parser parser(input);
  DocumentStarts documents;
  while (parser.HandleNextDocument(documents)) {
    const auto& starts = documents.starts;
    if (starts.size() >= 2 && starts[starts.size() - 1].pos == starts[starts.size() - 2].pos) {
      const YAML::Mark& stuck = starts.back();
      const char c = stuck.pos >= 0 && static_cast<std::size_t>(stuck.pos) < text.size() ? text[stuck.pos] : '?';
      throw YAML::ParserException(stuck, std::string("unexpected '") + c + "'");
    }
  }
  return YAML::LoadAll(text);
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
      documents = load_documents(std::string(yaml_text));
    } catch (const YAML::ParserException& syntax) {
      const bool known = !syntax.mark.is_null();
      return single_error(file_name, known ? syntax.mark.line + 1 : 0, known ? syntax.mark.column + 1 : 0,
                          "YAML syntax error: " + syntax.msg);
    }
    detail::Loader loader(file_name);
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
        return single_error(path, 1, 1, "file is larger than 16 MiB");
    }
    if (std::ferror(file.get()) != 0)
      return single_error(path, 0, 0, "cannot read the config: " + std::generic_category().message(errno));
    return parse_config(text, path);
  } catch (...) {
    return single_error(path, 0, 0, "cannot read the config");
  }
}

}  // namespace keel::config
